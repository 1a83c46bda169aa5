"""Result files → pandas DataFrames.

The format comes from the file name (``.csv``, ``.tsv``/``.tab``, ``.parquet``/``.pq``,
``.json``, ``.jsonl``/``.ndjson``, each optionally ``.gz``/``.bz2``/``.xz``), else from the
media type, else from the first bytes. pandas and pyarrow are imported only when a file is
read, so importing this module stays cheap.
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
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

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
_OPENERS: dict[str, Callable[[IO[bytes]], io.BufferedIOBase]] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f, mode="rb"),
    "xz": lambda f: lzma.LZMAFile(f, mode="rb"),  # noqa: SIM115 - _decompressed opens it in a with
}

#: Options of ``pandas.read_csv`` that its pyarrow engine lacks; given one, the default engine reads.
_NOT_IN_PYARROW_CSV = frozenset(
    {
        "chunksize", "comment", "converters", "dayfirst", "dialect", "float_precision", "iterator",
        "lineterminator", "low_memory", "memory_map", "na_filter", "nrows", "quoting",
        "skipfooter", "skipinitialspace", "thousands",
    }
)  # fmt: skip

_HEAD_SIZE = 64 * 1024
_SPOOL_SIZE = 64 * 1024 * 1024


def is_tabular(name: str, media_type: str | None = None) -> bool:
    """Whether a result looks like a table ``read_frame`` can read, judged by name and media type."""
    return _format_from_name(name)[0] is not None or _format_from_media_type(media_type) is not None


def read_frame(
    source: Source, name: str, media_type: str | None = None, **read_kwargs: Any
) -> pandas.DataFrame:
    """Read one result file into a DataFrame.

    ``source`` is the file's bytes, a path, or a binary file object; ``name`` is the result's
    name (its extension picks the format). ``read_kwargs`` go to the pandas reader; pass
    ``engine=...`` to override the pyarrow engine used by default.
    Raises :class:`InvalidSpec` (``field="name"``) when the file cannot be read as a table.
    """
    fmt: str | None = None
    with _binary_source(source) as raw:
        try:
            named_fmt, compression = _format_from_name(name)
            with _decompressed(raw, compression or _sniff_compression(_peek(raw))) as stream:
                fmt = _detect_format(stream, named_fmt, name, media_type, read_kwargs)
                return _READERS[fmt](stream, read_kwargs)
        except _parse_errors() as exc:
            what = f"as {_LABELS[fmt]}" if fmt else "as a table"
            raise InvalidSpec(f"cannot read result '{name}' {what}: {_reason(exc)}", field="name") from None


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
    stream: _Stream, named_fmt: str | None, name: str, media_type: str | None, read_kwargs: dict[str, Any]
) -> str:
    """The format of a result: by its name, else its media type, else its first (uncompressed) bytes."""
    fmt = named_fmt or _format_from_media_type(media_type) or _sniff_format(_peek(stream), name, read_kwargs)
    if fmt == "json" and _looks_like_json_lines(_peek(stream)):
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
            f"cannot read result '{name}' as a table: it is binary data, not CSV, TSV, Parquet, "
            "JSON or JSON lines",
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
    if "engine" not in options and not _NOT_IN_PYARROW_CSV.intersection(options):
        options["engine"] = "pyarrow"
    return pd.read_csv(stream, **options)


def _read_tsv(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    return _read_csv(stream, read_kwargs, sep="\t")


def _read_parquet(stream: _Stream, read_kwargs: dict[str, Any]) -> pandas.DataFrame:
    import pandas as pd

    return pd.read_parquet(stream, **{"engine": "pyarrow", **read_kwargs})


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
    """A seekable binary stream over ``source``; files opened here are closed on exit."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            raise NotFound(f"no such result file: {os.fspath(source)}") from None
        with handle:
            yield handle
    elif source.seekable():
        yield source
    else:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_SIZE) as spool:
            shutil.copyfileobj(source, spool)
            spool.seek(0)
            yield spool


@contextlib.contextmanager
def _decompressed(raw: IO[bytes], compression: str | None) -> Iterator[_Stream]:
    """The uncompressed bytes of ``raw`` as a stream (``raw`` itself when it is not compressed)."""
    if compression is None:
        yield raw
        return
    with _OPENERS[compression](raw) as stream:
        yield stream


def _peek(stream: _Stream) -> bytes:
    """The first bytes from the current position, leaving the position where it was."""
    position = stream.tell()
    head = stream.read(_HEAD_SIZE)
    stream.seek(position)
    return head


def _parse_errors() -> tuple[type[BaseException], ...]:
    """What the readers raise for content they cannot parse (pyarrow's errors included)."""
    from pyarrow import ArrowException

    return (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, ArrowException)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
