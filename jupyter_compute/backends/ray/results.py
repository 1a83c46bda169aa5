"""Where a Ray backend's jobs keep their outputs (``results_url``), read through fsspec in worker threads.

A folder the nodes and this server share (a path or ``file://``) is written by the job directly; any other
fsspec URL (``s3://…``) gets the outputs copied at the job's end by :mod:`.entry`, with the cluster's
own credentials, and is read here with ``results_options`` and the key pair named by ``results_key_env`` /
``results_secret_env``.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import fsspec

from ...errors import BackendError, InvalidSpec, NotFound
from .._fsspec import file_sizes
from ..base import config_text
from ..secrets import read_secret, scrub

CHUNK_SIZE = 1024 * 1024
T = TypeVar("T")


@dataclass
class ResultsLocation:
    """The results location of one backend: ``<url>/<job id>/<file>``."""

    url: str
    backend: str
    public_options: dict[str, Any] = field(default_factory=dict)
    key_env: str | None = None
    secret_env: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, backend: str) -> ResultsLocation | None:
        """The location the config names, or None without ``results_url``."""
        url = config_text(config, "results_url", None, kind="ray")
        if url is None:
            return None
        if "://" not in url and not url.startswith("/"):
            raise InvalidSpec("ray backend config 'results_url' must be an absolute path or a URL", field="results_url")
        options = config.get("results_options") or {}
        if not isinstance(options, Mapping):
            raise InvalidSpec("ray backend config 'results_options' must be an object", field="results_options")
        secret = _secret_key(options)
        if secret:
            raise InvalidSpec(f"ray backend config 'results_options' must hold no credential ('{secret}'): name "
                              "the variables holding them in results_key_env and results_secret_env",
                              field="results_options")  # fmt: skip
        return cls(url.rstrip("/") or "/", backend, dict(options),
                   config_text(config, "results_key_env", None, kind="ray"),
                   config_text(config, "results_secret_env", None, kind="ray"))  # fmt: skip

    @property
    def shared_folder(self) -> Path | None:
        """The folder itself when the location is a path every node shares, else None."""
        if self.url.startswith("file://"):
            return Path(self.url.removeprefix("file://"))
        return Path(self.url) if "://" not in self.url else None

    def url_of(self, job_id: str) -> str:
        return f"{self.url}/{job_id}"

    def secrets(self) -> list[str]:
        return [value for value in (read_secret(self.key_env), read_secret(self.secret_env)) if value]

    def _filesystem(self) -> tuple[Any, str]:
        options = dict(self.public_options)
        key, secret = read_secret(self.key_env), read_secret(self.secret_env)
        if key and secret:
            options.update(key=key, secret=secret)
        if self.url.split("://", 1)[0] in ("s3", "s3a"):
            options.setdefault("skip_instance_cache", True)
        return fsspec.core.url_to_fs(self.url, **options)

    def _job_root(self, job_id: str) -> tuple[Any, str]:
        fs, root = self._filesystem()
        return fs, posixpath.join(root, job_id)

    async def list(self, job_id: str) -> dict[str, int | None]:
        """The job's output files: name → size."""
        return await self._run(lambda: file_sizes(*self._job_root(job_id)), f"listing the results of job {job_id}")

    async def read(self, job_id: str, name: str) -> AsyncIterator[bytes]:
        """Stream one output's bytes."""
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise NotFound(f"no result '{name}'", field="name")
        fs, root = await self._run(lambda: self._job_root(job_id), "opening the results location")
        path = posixpath.join(root, name)
        if self.shared_folder is not None and not await asyncio.to_thread(_inside, Path(path), Path(root)):
            raise NotFound(f"no result '{name}'", field="name")
        handle = await self._run(lambda: fs.open(path, "rb"), f"opening {name}")
        try:
            while chunk := await self._run(lambda: handle.read(CHUNK_SIZE), f"reading {name}"):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def remove(self, job_id: str) -> None:
        """Remove the job's outputs (none is fine)."""

        def remove() -> None:
            fs, root = self._job_root(job_id)
            if fs.exists(root):
                fs.rm(root, recursive=True)

        await self._run(remove, f"removing the results of job {job_id}")

    async def _run(self, call: Callable[[], T], what: str) -> T:
        """A blocking fsspec call in a worker thread; its errors in words, secrets scrubbed."""
        try:
            return await asyncio.to_thread(call)
        except FileNotFoundError:
            raise NotFound(f"{what}: not found", backend=self.backend) from None
        except Exception as exc:  # noqa: BLE001 — fsspec's file systems raise every kind
            said = scrub(exc, self.secrets())
            raise BackendError(f"{what} failed: {type(exc).__name__}: {said}", backend=self.backend) from None


#: Words that mark an fsspec option as a credential.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session")


def _secret_key(options: Mapping[str, Any]) -> str | None:
    """The first option (at any depth) whose name says it holds a credential."""
    for name, value in options.items():
        if any(word in str(name).lower() for word in _SECRET_WORDS):
            return str(name)
        if isinstance(value, Mapping) and (inner := _secret_key(value)):
            return inner
    return None


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is a file within ``root`` once links are followed (a job may leave a link to anywhere)."""
    return not path.is_symlink() and path.resolve().is_relative_to(root.resolve())
