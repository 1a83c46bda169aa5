"""OBS, where ModelArts jobs read their code and inputs and write their outputs (S3-compatible).

ModelArts writes OBS paths two ways, ``obs://bucket/key`` and ``/bucket/key``; both are read here
(:func:`obs_path`) and the platform is sent the ``/bucket/key`` form. Objects are read and written
with s3fs against the configured ``obs_endpoint``; every s3fs call blocks, so the backend runs the
methods of :class:`ObsStore` through :func:`asyncio.to_thread`. Every call has a connect and a read
timeout and a bounded number of attempts (:func:`client_options`), and the key pair is held so that
no repr shows it (:class:`KeyPair`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import AuthError, InvalidSpec, NotFound
from .._fsspec import file_sizes, s3_filesystem
from ..maap_storage import CHUNK_SIZE, S3Reader

#: Client options OBS needs from recent botocore (it rejects the new default checksums).
CHECKSUM_OPTIONS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
#: Attempts of one OBS request by botocore (the first included), and of one s3fs call around it.
OBS_ATTEMPTS = 2
#: The longest an OBS connection may take to open, whatever ``timeout_s`` says.
MAX_CONNECT_TIMEOUT_S = 10.0


def client_options(timeout_s: float) -> dict[str, Any]:
    """botocore client options for OBS: the checksum settings, timeouts from ``timeout_s``, bounded retries."""
    return {
        **CHECKSUM_OPTIONS,
        "connect_timeout": min(timeout_s, MAX_CONNECT_TIMEOUT_S),
        "read_timeout": timeout_s,
        "retries": {"max_attempts": OBS_ATTEMPTS, "mode": "standard"},
    }


@dataclass(frozen=True)
class KeyPair:
    """An access key id and its secret; neither shows in a repr (or in ``vars`` of what holds it)."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return "KeyPair(***)"

    __str__ = __repr__


def _without_scheme(value: str, field: str) -> str:
    """``obs://bucket/key`` or ``/bucket/key`` → ``bucket/key``; InvalidSpec naming ``field`` for other texts."""
    if value.startswith("obs://"):
        return value[len("obs://") :]
    if value.startswith("/") and not value.startswith("//"):
        return value[1:]
    raise InvalidSpec(f"not an OBS path (obs://bucket/path or /bucket/path): '{value}'", field=field)


def _segments(value: str, field: str) -> tuple[str, list[str], bool]:
    """(bucket, key segments, whether the key ends in '/') of an OBS path; InvalidSpec naming ``field``
    when it names no object or climbs ('..')."""
    bucket, _, key = _without_scheme(value, field).partition("/")
    parts = [p for p in key.split("/") if p]
    if not bucket or not parts:
        raise InvalidSpec(f"the OBS path '{value}' names a bucket but no object or folder in it", field=field)
    if any(p in (".", "..") for p in parts):
        raise InvalidSpec(f"'.' and '..' are not allowed in an OBS path: '{value}'", field=field)
    return bucket, parts, key.endswith("/")


def obs_path(text: Any, field: str, *, folder: bool = False) -> str:
    """``obs://bucket/key`` or ``/bucket/key`` → ``bucket/key`` (``bucket/key/`` for a folder).

    InvalidSpec naming ``field`` when the text is not an OBS path, names no object, or climbs ('..').
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpec("an OBS path must be a non-empty string", field=field)
    bucket, parts, names_folder = _segments(text.strip(), field)
    path = "/".join([bucket, *parts])
    return path + "/" if folder or names_folder else path


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

    def __init__(self, endpoint_url: str, keys: KeyPair, *, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(endpoint_url, None, None)  # the keys stay in ``keys``, hidden from reprs
        self.keys = keys
        self.client_config = dict(options if options is not None else client_options(30.0))

    def _filesystem(self) -> Any:
        if self._fs is None:
            fs = s3_filesystem(self.endpoint_url, self.keys.key, self.keys.secret, config=self.client_config)
            fs.retries = OBS_ATTEMPTS  # s3fs retries timeouts itself too: bound that as well
            self._fs = fs
        return self._fs

    def exists(self, path: str) -> bool:
        """Whether an object (or, for a path ending in ``/``, any object under that folder) exists."""
        fs = self._filesystem()
        fs.invalidate_cache(path.rstrip("/"))
        if path.endswith("/"):
            try:
                return bool(fs.find(path.rstrip("/"), maxdepth=None, withdirs=False))
            except FileNotFoundError:
                return False
        try:  # not fs.isfile: it answers False for any error, a stuck OBS included
            return fs.info(path).get("type") == "file"
        except FileNotFoundError:
            return False

    def upload(self, local: str | os.PathLike[str], path: str) -> list[str]:
        """A local file to the object ``path``, or a folder's files under the folder ``path``; the keys written.

        Symbolic links inside a folder are skipped, and no file is opened through one: a link could
        lead out of the folders the server shares (to ``/proc/self/environ``, say).
        """
        fs = self._filesystem()
        source = Path(local)
        pairs = [(source, path.rstrip("/"))] if source.is_file() else [
            (file, join(path, file.relative_to(source).as_posix())) for file in _plain_files(source)
        ]
        for file, target in pairs:
            with os.fdopen(os.open(file, os.O_RDONLY | os.O_NOFOLLOW), "rb") as reader, fs.open(target, "wb") as writer:
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


def _plain_files(folder: Path) -> list[Path]:
    """The regular files under ``folder``, in a stable order, without following any symbolic link."""
    found: list[Path] = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(Path(here) / name for name in sorted(files) if not (Path(here) / name).is_symlink())
    return found
