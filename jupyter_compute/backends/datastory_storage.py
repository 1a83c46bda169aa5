"""The file systems of the Datastory backend: named storage profiles (HDFS through WebHDFS, CEPH
through S3) and what the backend does with them — check, upload, list and stream — with fsspec.

Every fsspec call blocks; the backend runs them through :func:`asyncio.to_thread`. Secrets (the
CEPH access/secret keys) are read from the environment at call time, only when a file system or a
submission descriptor is built, and never kept on a profile.
"""

from __future__ import annotations

import posixpath
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AuthError, BackendError, InvalidSpec, NotFound
from ._fsspec import file_sizes, s3_filesystem
from .secrets import read_secret

TYPES = ("HDFS", "CEPH")
CHUNK_SIZE = 64 * 1024
#: How long an HDFS NameNode may take to accept a connection before the spare host is tried.
CONNECT_TIMEOUT_S = 3.0
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _text(
    data: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (str, int))
        or not str(value).strip()
    ):
        raise InvalidSpec(
            f"datastory backend config '{where}.{key}' must be a non-empty string",
            field=f"{where}.{key}",
        )
    return str(value).strip()


def _port(
    data: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        port = -1
    if isinstance(value, bool) or not 0 < port < 65536:
        raise InvalidSpec(
            f"datastory backend config '{where}.{key}' must be a port number",
            field=f"{where}.{key}",
        )
    return port


@dataclass(frozen=True)
class Profile:
    """One named storage profile; holds the *names* of secret environment variables, never a secret."""

    name: str
    type: str
    host: str
    port: int
    user: str | None = None  # HDFS
    spare_host: str | None = None  # HDFS: a host, or host:port
    spare_port: int | None = None
    access_key_env: str | None = None  # CEPH
    secret_key_env: str | None = None
    bucket: str | None = None  # CEPH: where uploads and default outputs go
    output_root: str | None = None

    @classmethod
    def from_config(cls, name: str, data: Any) -> Profile:
        where = f"storage.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidSpec(
                f"datastory storage profile name '{name}' must be letters, digits, _ . -",
                field="storage",
            )
        if not isinstance(data, Mapping):
            raise InvalidSpec(
                f"datastory backend config '{where}' must be an object", field=where
            )
        kind = str(data.get("type", "")).upper()
        if kind not in TYPES:
            raise InvalidSpec(
                f"datastory backend config '{where}.type' must be HDFS or CEPH",
                field=f"{where}.type",
            )
        common = {
            "name": name, "type": kind, "host": _text(data, "host", where), "port": _port(data, "port", where),
            "output_root": _text(data, "output_root", where, required=False),
        }  # fmt: skip
        if kind == "HDFS":
            return cls(
                **common,  # type: ignore[arg-type]
                user=_text(data, "user", where),
                spare_host=_text(data, "spare_host", where, required=False),
                spare_port=_port(data, "spare_port", where, required=False),
            )
        return cls(
            **common,  # type: ignore[arg-type]
            access_key_env=_text(data, "access_key_env", where),
            secret_key_env=_text(data, "secret_key_env", where),
            bucket=_text(data, "bucket", where, required=False),
        )

    # secrets ---------------------------------------------------------------------------------
    def keys(self) -> tuple[str, str]:
        """(access key, secret key) read from the environment now; AuthError naming the variables."""
        key = read_secret(self.access_key_env) or ""
        secret = read_secret(self.secret_key_env) or ""
        if not key or not secret:
            raise AuthError(
                f"storage profile '{self.name}': set the environment variables {self.access_key_env} and "
                f"{self.secret_key_env} of the Jupyter server to the bucket's access and secret keys"
            )
        return key, secret

    def secrets(self) -> list[str]:
        """The secret values in force now (to scrub them out of any text)."""
        if self.type != "CEPH":
            return []
        return [
            v
            for v in (
                read_secret(self.access_key_env),
                read_secret(self.secret_key_env),
            )
            if v
        ]

    # hosts -----------------------------------------------------------------------------------
    def spare(self) -> tuple[str, int] | None:
        if not self.spare_host:
            return None
        host, port = self.spare_host, self.spare_port or self.port
        if ":" in host and not self.spare_port:
            head, _, tail = host.rpartition(":")
            if tail.isdigit():
                host, port = head, int(tail)
        return host, port

    # paths -----------------------------------------------------------------------------------
    def fs_path(self, path: str) -> str:
        """A platform path (HDFS absolute path, CEPH ``bucket#key``) → the path fsspec uses."""
        if self.type == "HDFS":
            return path
        bucket, sep, key = path.partition("#")
        return f"{bucket}/{key.lstrip('/')}" if sep else path.lstrip("/")

    def platform_path(self, fs_path: str) -> str:
        """The path fsspec uses → the platform's spelling (``bucket/key`` → ``bucket#key``)."""
        if self.type == "HDFS":
            return fs_path
        bucket, _, key = fs_path.lstrip("/").partition("/")
        return f"{bucket}#{key}"

    def check_path(self, path: str, field: str) -> str:
        """A path given in a spec, normalised to the platform's spelling; InvalidSpec naming ``field``."""
        path = path.strip()
        if self.type == "HDFS":
            if not path.startswith("/"):
                raise InvalidSpec(
                    f"an HDFS path must be absolute (start with /): '{path}'",
                    field=field,
                )
            if ".." in path.split("/"):
                raise InvalidSpec(
                    f"'..' is not allowed in a path: '{path}'", field=field
                )
            return posixpath.normpath(path) + (
                "/" if path.endswith("/") and path != "/" else ""
            )
        bucket, sep, key = path.partition("#")
        if not sep:
            bucket, _, key = path.lstrip("/").partition("/")
        if not bucket or not key.strip("/"):
            raise InvalidSpec(
                f"a CEPH path is bucket#path/in/bucket, not '{path}'", field=field
            )
        if ".." in key.split("/"):
            raise InvalidSpec(f"'..' is not allowed in a path: '{path}'", field=field)
        return f"{bucket}#{key.lstrip('/')}"

    def default_folder(self, root: str, job_id: str, suffix: str = "") -> str:
        """``<root>/<job_id><suffix>/`` (HDFS) or ``<bucket>#<root>/<job_id><suffix>/`` (CEPH)."""
        root = (self.output_root or root).strip()
        if self.type == "HDFS":
            return (
                "/"
                + "/".join(p for p in (root.strip("/"), f"{job_id}{suffix}") if p)
                + "/"
            )
        bucket, sep, prefix = root.partition("#")
        if not sep:
            if not self.bucket:
                raise InvalidSpec(
                    f"storage profile '{self.name}' has no 'bucket': give the output folder as bucket#path",
                    field="output",
                )
            bucket, prefix = self.bucket, root
        return (
            f"{bucket}#"
            + "/".join(p for p in (prefix.strip("/"), f"{job_id}{suffix}") if p)
            + "/"
        )

    # descriptors (built at submit time only; they hold the CEPH keys) -----------------------
    def descriptor(self, path_key: str, path: str) -> dict[str, str]:
        info: dict[str, str] = {
            "fileSystemType": self.type,
            "host": self.host,
            "port": str(self.port),
        }
        if self.type == "HDFS":
            if self.spare_host:
                info["spareHost"] = self.spare_host
            info["userName"] = self.user or ""
        else:
            key, secret = self.keys()
            info["userName"], info["password"] = key, secret
        info[path_key] = path
        return info


def _not_hidden(name: str) -> bool:
    """Not a platform's marker file (``_SUCCESS``) nor a hidden one (``.crc`` checksums)."""
    return not name.rsplit("/", 1)[-1].startswith((".", "_"))


class Storage:
    """Blocking file-system operations on one profile (run them in a worker thread)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._fs: Any = None

    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self._hdfs() if self.profile.type == "HDFS" else self._s3()
        return self._fs

    def _hdfs(self) -> Any:
        """WebHDFS on the NameNode, or on the spare host when the primary does not answer a TCP connect
        within CONNECT_TIMEOUT_S (a silent host must not hang the call: requests has no timeout here)."""
        from fsspec.implementations.webhdfs import WebHDFS

        p = self.profile
        hosts = [(p.host, p.port)]
        spare = p.spare()
        if spare and spare not in hosts:
            hosts.append(spare)
        failures = []
        for host, port in hosts:
            try:
                socket.create_connection(
                    (host, port), timeout=CONNECT_TIMEOUT_S
                ).close()
            except OSError as exc:
                failures.append(f"{host}:{port} ({type(exc).__name__})")
                continue
            return WebHDFS(host, port=port, user=p.user, skip_instance_cache=True)
        raise BackendError(
            f"storage profile '{p.name}': no HDFS NameNode answered: {', '.join(failures)}"
        )

    def _s3(self) -> Any:
        key, secret = self.profile.keys()
        return s3_filesystem(f"http://{self.profile.host}:{self.profile.port}", key, secret)

    def exists(self, path: str) -> bool:
        return bool(self.fs().exists(self.profile.fs_path(path)))

    def upload(self, local: str, path: str) -> None:
        fs = self.fs()
        target = self.profile.fs_path(path)
        parent = posixpath.dirname(target.rstrip("/"))
        if parent and parent != "/" and self.profile.type == "HDFS":
            fs.makedirs(parent, exist_ok=True)
        with open(local, "rb") as source, fs.open(target, "wb") as sink:
            while chunk := source.read(CHUNK_SIZE * 16):
                sink.write(chunk)

    def list_files(self, folder: str) -> dict[str, int | None]:
        """Files under ``folder`` (recursively): name relative to the folder → size (no _SUCCESS or .crc files)."""
        return file_sizes(self.fs(), self.profile.fs_path(folder), keep=_not_hidden)

    def open(self, folder: str, name: str) -> Any:
        path = self.profile.fs_path(folder).rstrip("/") + "/" + name
        try:
            return self.fs().open(path, "rb", block_size=CHUNK_SIZE * 16)
        except FileNotFoundError:
            raise NotFound(
                f"the result '{name}' does not exist (any more)", field="name"
            ) from None
        except PermissionError as exc:
            raise AuthError(f"the store refused to read '{name}': {exc}") from None
