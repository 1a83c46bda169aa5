"""Result files → pandas DataFrames.

The format comes from the file name (``.csv``, ``.tsv``/``.tab``, ``.parquet``/``.pq``,
``.json``, ``.jsonl``/``.ndjson``, each optionally ``.gz``/``.bz2``/``.xz``), else from the
media type, else from the first bytes. pandas and pyarrow are imported only when a file is
read, so importing this module stays cheap.

An unseekable stream (a download) is parsed as it arrives: CSV, TSV and JSON go straight into
pandas' parser, so the body is never held twice and ``nrows`` stops reading early. Parquet keeps its index
at the end of the file, so such a stream is first saved to a temporary file; a seekable one (a
path, or a result file on this machine, see :mod:`results_http`) is read where it lies.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import json
import lzma
import os
import shutil
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from . import results_frames
from .errors import InvalidSpec, NotFound

if TYPE_CHECKING:
    import pandas

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]
#: A readable binary stream: a source's bytes, or what a decompressor makes of them.
_Stream = IO[bytes] | io.BufferedIOBase

_LABELS = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "json": "JSON", "jsonl": "JSON lines"}

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/vnd.apache.parquet": "parquet",
    "application/parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/json": "json",
    "text/json": "json",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
}

_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_OPENERS: dict[str, Callable[[Any], io.BufferedIOBase]] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),  # noqa: SIM115 - _decompressed opens it in a with
}

#: Words of a reader's error that put the blame on one option (beside the option's own name).
_OPTION_WORDS = {
    "filters": ("predicate", "filter", "operator", "fieldref"),
    "columns": ("column", "fieldref"),
    "usecols": ("usecols",),
}

_HEAD_SIZE = 64 * 1024
_COPY_SIZE = 1024 * 1024


def is_tabular(name: str, media_type: str | None = None) -> bool:
    """Whether a result looks like a table ``read_frame`` can read, judged by name and media type."""
    return _format_from_name(name)[0] is not None or _format_from_media_type(media_type) is not None


def read_frame(source: Source, name: str, media_type: str | None = None, **read_kwargs: Any) -> pandas.DataFrame:
    """Read one result file into a DataFrame.

    ``source`` is the file's bytes, a path, or a binary file object (an unseekable one is read
    as it arrives); ``name`` is the result's name (its extension picks the format).
    ``read_kwargs`` go to the pandas reader (``usecols``, ``nrows`` … for CSV; ``columns``,
    ``filters`` for Parquet, which then reads only those columns and row groups).
    Raises :class:`InvalidSpec` when the file cannot be read as a table (``field="name"``) or an
    option does not fit it (``field`` names the option).
    """
    _refuse_partial_reads(read_kwargs)
    fmt: str | None = None
    with _binary_source(source) as raw:
        try:
            named_fmt, compression = _format_from_name(name)
            fmt = named_fmt
            head, stream = _head(raw)
            with _decompressed(stream, compression or _sniff_compression(head)) as unpacked:
                head, stream = _head(unpacked) if unpacked is not stream else (head, stream)
                fmt = _detect_format(head, named_fmt, name, media_type, read_kwargs)
                return _READERS[fmt](stream, read_kwargs)
        except _parse_errors() as exc:
            raise _unreadable(name, fmt, exc, read_kwargs) from None


# --- choosing the format --------------------------------------------------------------------


def _format_from_name(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from the file name's extensions, e.g. ``x.csv.gz`` → (csv, gzip)."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    return (_EXTENSIONS.get(suffixes[-1]) if suffixes else None), compression


def _format_from_media_type(media_type: str | None) -> str | None:
    if not media_type:
        return None
    return _MEDIA_TYPES.get(media_type.split(";", 1)[0].strip().lower())


def _detect_format(
    head: bytes, named_fmt: str | None, name: str, media_type: str | None, read_kwargs: dict[str, Any]
) -> str:
    """The format of a result: by its name, else its media type, else its first (uncompressed) bytes."""
    fmt = named_fmt or _format_from_media_type(media_type) or _sniff_format(head, name, read_kwargs)
    if fmt == "json" and _looks_like_json_lines(head):
        fmt = "jsonl"
    return fmt


def _sniff_compression(head: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _sniff_format(head: bytes, name: str, read_kwargs: dict[str, Any]) -> str:
    if not head:
        raise InvalidSpec(f"cannot read result '{name}' as a table: it is empty", field="name")
    if head.startswith(b"PAR1"):
        return "parquet"
    text = _as_text(head)
    if text is None:
        raise InvalidSpec(
            f"cannot read result '{name}' as a table: it is binary data, not CSV, TSV, Parquet, JSON or JSON lines",
            field="name",
        )
    if text.lstrip().startswith(("[", "{")):
        return "json"
    if "sep" in read_kwargs or "delimiter" in read_kwargs:
        return "csv"
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    if first_line.count("\t") > first_line.count(","):
        return "tsv"
    if "," in first_line:
        return "csv"
    raise InvalidSpec(
        f"cannot read result '{name}' as a table: its first line has no comma or tab "
        "(pass sep=... to read it as delimited text)",
        field="name",
    )


def _as_text(head: bytes) -> str | None:
    """The head decoded as UTF-8 (a character cut at the end is fine), or None for binary data."""
    if b"\x00" in head:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head)
    except UnicodeDecodeError:
        return None


def _looks_like_json_lines(head: bytes) -> bool:
    """A first line that is a whole JSON object, followed by more: JSON lines, not one document."""
    first, _, rest = head.lstrip().partition(b"\n")
    if not rest.strip():
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


# --- reading --------------------------------------------------------------------------------


def _read_csv(stream: _Stream, read_kwargs: dict[str, Any], sep: str = ",") -> pandas.DataFrame:
    import pandas as pd

    options = dict(read_kwargs)
    if "sep" not in options and "delimiter" not in options:
        options["sep"] = sep
    head, stream = _head(stream)
    chunk_rows = results_frames.rows_per_chunk(head)
    # pandas' own C parser: faster here than its pyarrow engine, and with half its peak memory (measured in
    # tests/benchmarks/test_bench_results.py); it reads a stream as it arrives and stops at nrows.
    if "index_col" in options:
        return results_frames.read_csv_by_column(stream, options, chunk_rows)
    if options.get("engine") == "pyarrow":  # pyarrow's reader takes no index_col, and refuses long rows itself
        return results_frames.read_csv_by_column(stream, options, chunk_rows)
    # Rows longer than the header are an error, as with pyarrow's reader, rather than pandas'
    # silent guess that the first column is an index (its other warnings stay warnings).
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Length of header", category=pd.errors.ParserWarning)
        return results_frames.read_csv_by_column(stream, {"index_col": False, **options}, chunk_rows)


def _read_tsv(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    return _read_csv(stream, read_kwargs, sep="\t")


def _read_parquet(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    raw: Any = getattr(stream, "raw", stream)
    local_path = getattr(raw, "local_path", None)
    if isinstance(local_path, str):
        # A result file on this machine (see results_http): pyarrow reads it by its path, with its own I/O.
        frame = _read_parquet_file(local_path, read_kwargs)
        raw.mark_read()
        return frame
    if _seekable(stream):
        return _read_parquet_file(stream, read_kwargs)
    with tempfile.TemporaryDirectory(prefix="jupyter-compute-") as folder:
        path = os.path.join(folder, "result.parquet")
        with open(path, "wb") as copy:
            shutil.copyfileobj(stream, copy, _COPY_SIZE)
        return _read_parquet_file(path, read_kwargs)


def _read_parquet_file(source: str | _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    schema = pq.read_schema(source)
    _check_parquet_columns(schema.names, read_kwargs)
    if not isinstance(source, str) and _seekable(source):
        source.seek(0)
    names = list(read_kwargs.get("columns") or schema.names)
    if names and set(read_kwargs) <= {"columns"} and results_frames.plain_frame(schema.pandas_metadata):
        return results_frames.read_parquet_by_columns(source, names)
    return pd.read_parquet(source, **{"engine": "pyarrow", **read_kwargs})


def _refuse_partial_reads(read_kwargs: dict[str, Any]) -> None:
    """A chunked reader would outlive the download it reads: refuse ``chunksize`` and ``iterator``."""
    for option in ("chunksize", "iterator"):
        if read_kwargs.get(option):
            raise InvalidSpec(
                f"{option}: results are read whole into one frame; pass nrows=... (and skiprows=...) to read part",
                field=option,
            )


def _check_parquet_columns(names: list[str], read_kwargs: dict[str, Any]) -> None:
    """InvalidSpec naming the option when ``columns`` or ``filters`` name a column the file lacks."""
    known = set(names)
    for option, wanted in (("columns", read_kwargs.get("columns")), ("filters", _filter_columns(read_kwargs))):
        missing = [c for c in wanted or () if isinstance(c, str) and c not in known]
        if missing:
            raise InvalidSpec(
                f"{option}: no column {', '.join(map(repr, missing))} in this result (its columns: {', '.join(names)})",
                field=option,
            )


def _filter_columns(read_kwargs: dict[str, Any]) -> list[str]:
    """The column names of ``filters`` given as tuples (``[(col, op, value), ...]``, or lists of them)."""
    filters = read_kwargs.get("filters")
    if not isinstance(filters, list):
        return []
    terms = [t for group in filters for t in (group if isinstance(group, list) else [group])]
    return [t[0] for t in terms if isinstance(t, tuple) and len(t) == 3]


def _read_json(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    import pandas as pd

    return pd.read_json(stream, **read_kwargs)


def _read_json_lines(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    import pandas as pd

    options = {"lines": True, **read_kwargs}
    # pyarrow's JSON reader honours almost no pandas option: use it only for a plain read.
    if "engine" not in options and set(read_kwargs) <= {"dtype_backend"}:
        options["engine"] = "pyarrow"
    return pd.read_json(stream, **options)


_READERS: dict[str, Callable[[_Stream, dict[str, Any]], pandas.DataFrame]] = {
    "csv": _read_csv,
    "tsv": _read_tsv,
    "parquet": _read_parquet,
    "json": _read_json,
    "jsonl": _read_json_lines,
}


# --- sources and errors ---------------------------------------------------------------------


@contextlib.contextmanager
def _binary_source(source: Source) -> Iterator[IO[bytes]]:
    """A binary stream over ``source``: seekable for bytes and paths, ``source`` itself for a file object
    (which may not be); files opened here are closed on exit."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise NotFound(f"no such result file: {os.fspath(source)}") from None
        with handle:
            yield handle
    else:
        yield source


@contextlib.contextmanager
def _decompressed(raw: _Stream, compression: str | None) -> Iterator[_Stream]:
    """The uncompressed bytes of ``raw`` as a stream (``raw`` itself when it is not compressed)."""
    if compression is None:
        yield raw
        return
    with _OPENERS[compression](raw) as stream:
        yield stream


def _head(stream: _Stream) -> tuple[bytes, _Stream]:
    """The first bytes from the current position, and a stream that still starts with them
    (``stream`` itself, moved back, when it is seekable)."""
    if _seekable(stream):
        position = stream.tell()
        head = stream.read(_HEAD_SIZE)
        stream.seek(position)
        return head, stream
    head = _read_at_least(stream, _HEAD_SIZE)
    return head, _Prefixed(head, stream)


def _seekable(stream: _Stream) -> bool:
    """Whether ``stream`` can move back. A GzipFile always says it can, though it seeks by moving the
    file it reads, which may not: that file is asked too."""
    return bool(stream.seekable() and getattr(stream, "fileobj", stream).seekable())


def _read_at_least(stream: _Stream, size: int) -> bytes:
    """``size`` bytes of ``stream`` (fewer at its end), however short its single reads are."""
    parts: list[bytes] = []
    got = 0
    while got < size and (part := stream.read(size - got)):
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class _Prefixed(io.BufferedIOBase):
    """``head`` followed by the rest of ``stream``, as one unseekable stream; once ``head`` is read,
    reads go straight to ``stream`` (no second buffer copying every byte)."""

    def __init__(self, head: bytes, stream: _Stream) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _parse_errors() -> tuple[type[BaseException], ...]:
    """What the readers raise for content they cannot parse (pyarrow's errors included)."""
    from pandas.errors import ParserWarning
    from pyarrow import ArrowException

    return (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, ArrowException, ParserWarning)


def _unreadable(name: str, fmt: str | None, exc: BaseException, read_kwargs: dict[str, Any]) -> InvalidSpec:
    """The reader's failure in words, blaming the option it names when it names one."""
    reason = _reason(exc)
    option = _option_at_fault(reason, read_kwargs)
    if option is not None:
        return InvalidSpec(f"{option}={read_kwargs[option]!r} does not fit result '{name}': {reason}", field=option)
    what = f"as {_LABELS[fmt]}" if fmt else "as a table"
    return InvalidSpec(f"cannot read result '{name}' {what}: {reason}", field="name")


def _option_at_fault(reason: str, read_kwargs: dict[str, Any]) -> str | None:
    text = reason.lower()
    for option in read_kwargs:
        if option.lower() in text or any(word in text for word in _OPTION_WORDS.get(option, ())):
            return option
    return None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
