"""Blocking helpers over fsspec file systems that the storage modules share (run them in a worker thread)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BackendError


def s3_filesystem(
    endpoint_url: str | None, key: str | None, secret: str | None, *, config: Mapping[str, Any] | None = None
) -> Any:
    """An s3fs file system (no instance cache) on ``endpoint_url`` with a key pair; botocore ``config`` options."""
    try:
        import s3fs
    except ImportError:
        raise BackendError("reading and writing S3 objects needs the s3fs package: pip install s3fs") from None
    options: dict[str, Any] = {"skip_instance_cache": True}
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if key and secret:
        options.update(key=key, secret=secret)
    if config:
        options["config_kwargs"] = dict(config)
    return s3fs.S3FileSystem(**options)


def file_sizes(fs: Any, root: str, *, keep: Callable[[str], bool] = lambda name: True) -> dict[str, int | None]:
    """Files under ``root`` (recursively, read afresh): name relative to ``root`` → size in bytes.

    Folders and the names ``keep`` refuses are left out; a ``root`` that does not exist holds no files.
    """
    root = root.rstrip("/")
    fs.invalidate_cache(root)
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        return {}
    files: dict[str, int | None] = {}
    for path, info in sorted(found.items()):
        if info.get("type") == "directory" or path.endswith("/"):
            continue
        name = posixpath.relpath("/" + path.lstrip("/"), "/" + root.lstrip("/"))
        if name == "." or name.startswith("../") or not keep(name):
            continue
        size = info.get("size")
        files[name] = int(size) if isinstance(size, (int, float)) else None
    return files
