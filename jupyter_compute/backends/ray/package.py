"""A Ray job's ``working_dir`` package: its files zipped the way Ray's own client does, named by content.

Ray takes a local ``working_dir`` path at submit and then fails the job (it must be a URI), so the files are
zipped here, uploaded once with ``PUT /api/packages/gcs/_ray_pkg_<md5>.zip`` and named in the runtime
environment as ``gcs://_ray_pkg_<md5>.zip``. The zip is byte-for-byte the same for the same files (fixed
timestamps, sorted names, the files' own modes), so the same package is never uploaded twice. Symbolic links
in folders are left out: they could name any file of the server.
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

#: The most a job's files may come to (Ray's own limit is 512 MiB of zip, kept in its GCS): a job's data
#: belongs in storage the cluster reads.
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


def check_files(files: Mapping[str, bytes | Path]) -> None:
    """InvalidSpec when two files would take one name or they come to more than a package takes. Blocking:
    looks at the files."""
    entries = _entries(files)
    names = [name for name, _, _ in entries]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise InvalidSpec(f"two of the job's files would be '{clashes[0]}' in its working directory",
                          field="extra.working_dir")  # fmt: skip
    total = sum(size for _, _, size in entries)
    if total > MAX_PACKAGE_BYTES:
        raise InvalidSpec(
            f"the job's files (program, inputs, working_dir) come to {total / 2**20:.0f} MiB, more than a job "
            f"takes ({MAX_PACKAGE_BYTES // 2**20} MiB): put large data where the cluster reads it (e.g. S3)",
            field="inputs")  # fmt: skip


def build_package(files: Mapping[str, bytes | Path]) -> Package:
    """Zip ``files`` (name in the package → its bytes, or a local file or folder put under that name).
    Blocking: reads the files. InvalidSpec when two files take one name or they come to too much."""
    check_files(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source, _ in sorted(_entries(files), key=lambda entry: entry[0]):
            info = zipfile.ZipInfo(name, _FIXED_TIME)
            mode = source.stat().st_mode & 0o777 if isinstance(source, Path) else 0o644
            info.external_attr = mode << 16
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
            if path.is_file() and not path.is_symlink():
                relative = path.relative_to(folder).as_posix()
                found.append((f"{prefix}/{relative}" if prefix else relative, path, path.stat().st_size))
    return found
