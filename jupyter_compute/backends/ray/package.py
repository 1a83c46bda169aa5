"""A Ray job's ``working_dir`` package: its files zipped the way Ray's own client does, named by content.

Ray takes a local ``working_dir`` path at submit and then fails the job (it must be a URI), so the files are
zipped here, uploaded once with ``PUT /api/packages/gcs/_ray_pkg_<md5>.zip`` and named in the runtime
environment as ``gcs://_ray_pkg_<md5>.zip``. The zip is byte-for-byte the same for the same files (fixed
timestamps, sorted names), so a package is uploaded once however often it is used.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import InvalidSpec

#: Ray refuses larger packages (its GCS keeps them); a job's data belongs in storage the cluster reads.
MAX_PACKAGE_BYTES = 100 * 1024 * 1024
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    """A zipped working directory and the name Ray knows it by."""

    data: bytes

    @property
    def name(self) -> str:
        return f"_ray_pkg_{hashlib.md5(self.data, usedforsecurity=False).hexdigest()}.zip"

    @property
    def uri(self) -> str:
        return f"gcs://{self.name}"


def build_package(files: Mapping[str, bytes | Path], *, field: str = "extra.working_dir") -> Package:
    """Zip ``files`` (name in the package → its bytes, or a local file or folder put under that name).
    Blocking: reads the files. InvalidSpec naming ``field`` when the package grows past the limit."""
    entries = sorted(_entries(files))
    total = sum(size for _, _, size in entries)
    if total > MAX_PACKAGE_BYTES:
        raise InvalidSpec(
            f"the job's files come to {total / 2**20:.0f} MiB, more than Ray takes in a job's working_dir "
            f"({MAX_PACKAGE_BYTES // 2**20} MiB): put large data where the cluster reads it (e.g. S3)", field=field)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source, _ in entries:
            info = zipfile.ZipInfo(name, _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source if isinstance(source, bytes) else source.read_bytes())
    return Package(buffer.getvalue())


def _entries(files: Mapping[str, bytes | Path]) -> list[tuple[str, bytes | Path, int]]:
    """(name in the zip, bytes or file, size) of every file, folders walked (hidden names left out)."""
    found: list[tuple[str, bytes | Path, int]] = []
    for name, source in files.items():
        if isinstance(source, bytes):
            found.append((name, source, len(source)))
        elif source.is_dir():
            found.extend(_folder_entries(name, source))
        else:
            found.append((name, source, source.stat().st_size))
    return found


def _folder_entries(prefix: str, folder: Path) -> list[tuple[str, bytes | Path, int]]:
    found: list[tuple[str, bytes | Path, int]] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".")):
            path = Path(root, name)
            if path.is_file():
                relative = path.relative_to(folder).as_posix()
                found.append((f"{prefix}/{relative}" if prefix else relative, path, path.stat().st_size))
    return found
