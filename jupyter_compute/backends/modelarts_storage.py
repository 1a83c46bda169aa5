"""OBS, where ModelArts jobs read their code and inputs and write their outputs (S3-compatible).

ModelArts writes OBS paths two ways, ``obs://bucket/key`` and ``/bucket/key``; both are read here
(:func:`obs_path`) and the platform is sent the ``/bucket/key`` form. Objects are read and written
with s3fs against the configured ``obs_endpoint``; every s3fs call blocks, so the backend runs the
methods of :class:`ObsStore` through :func:`asyncio.to_thread`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import AuthError, InvalidSpec, NotFound
from ._fsspec import file_sizes
from .maap_storage import CHUNK_SIZE, S3Reader

#: Client options OBS needs from recent botocore (it rejects the new default checksums).
CHECKSUM_OPTIONS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}


def obs_path(text: Any, field: str, *, folder: bool = False) -> str:
    """``obs://bucket/key`` or ``/bucket/key`` → ``bucket/key`` (``bucket/key/`` for a folder).

    InvalidSpec naming ``field`` when the text is not an OBS path, names no object, or climbs ('..').
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpec("an OBS path must be a non-empty string", field=field)
    value = text.strip()
    if value.startswith("obs://"):
        rest = value[len("obs://") :]
    elif value.startswith("/") and not value.startswith("//"):
        rest = value[1:]
    else:
        raise InvalidSpec(f"not an OBS path (obs://bucket/path or /bucket/path): '{value}'", field=field)
    bucket, _, key = rest.partition("/")
    parts = [p for p in key.split("/") if p]
    if not bucket or not parts:
        raise InvalidSpec(f"the OBS path '{value}' names a bucket but no object or folder in it", field=field)
    if any(p in (".", "..") for p in parts):
        raise InvalidSpec(f"'.' and '..' are not allowed in an OBS path: '{value}'", field=field)
    path = "/".join([bucket, *parts])
    return path + "/" if folder or key.endswith("/") else path


def api_url(path: str) -> str:
    """``bucket/key`` → ``/bucket/key`` as ModelArts takes it."""
    return "/" + path.lstrip("/")


def display_url(path: str) -> str:
    """``bucket/key`` → ``obs://bucket/key`` for people."""
    return "obs://" + path.lstrip("/")


def join(folder: str, *names: str) -> str:
    """``bucket/folder/`` + names → ``bucket/folder/a/b`` (names are relative, forward slashes)."""
    return "/".join([folder.rstrip("/"), *(n.strip("/") for n in names if n.strip("/"))])


class ObsStore(S3Reader):
    """Blocking OBS operations on one endpoint with one key pair (run them in a worker thread)."""

    client_config = CHECKSUM_OPTIONS

    def exists(self, path: str) -> bool:
        """Whether an object (or, for a path ending in ``/``, any object under that folder) exists."""
        fs = self._filesystem()
        fs.invalidate_cache(path.rstrip("/"))
        if path.endswith("/"):
            try:
                return bool(fs.find(path.rstrip("/"), maxdepth=None, withdirs=False))
            except FileNotFoundError:
                return False
        return bool(fs.isfile(path))

    def upload(self, local: str | os.PathLike[str], path: str) -> list[str]:
        """A local file to the object ``path``, or a folder's files under the folder ``path``; the keys written."""
        fs = self._filesystem()
        source = Path(local)
        pairs = (
            [(source, path.rstrip("/"))]
            if source.is_file()
            else [(f, join(path, f.relative_to(source).as_posix())) for f in sorted(source.rglob("*")) if f.is_file()]
        )
        for file, target in pairs:
            with open(file, "rb") as reader, fs.open(target, "wb") as writer:
                while chunk := reader.read(CHUNK_SIZE * 16):
                    writer.write(chunk)
        return [target for _, target in pairs]

    def list_files(self, folder: str) -> dict[str, int | None]:
        """Files under ``folder`` (recursively): name relative to the folder → size in bytes."""
        return file_sizes(self._filesystem(), folder)

    def remove(self, folder: str) -> int:
        """Delete every object under ``folder``, one by one (OBS takes no unsigned bulk delete); how many."""
        fs = self._filesystem()
        root = folder.rstrip("/")
        fs.invalidate_cache(root)
        try:
            keys = fs.find(root)
        except FileNotFoundError:
            return 0
        for key in keys:
            fs.rm_file(key)
        fs.invalidate_cache(root)
        return len(keys)

    def open_object(self, path: str) -> Any:
        """A binary handle on one object; NotFound / AuthError in words."""
        try:
            return self._open(path)
        except NotFound:
            raise NotFound(f"{display_url(path)} does not exist (any more)", field="name") from None
        except AuthError:
            raise AuthError(f"OBS refused to read {display_url(path)}") from None
