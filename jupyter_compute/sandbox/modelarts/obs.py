"""OBS for the ModelArts sandbox's workers, through OBS's S3 API (boto3): locations, downloads, uploads."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any


class StageError(Exception):
    """A download or upload that failed; the message goes to the task logs."""


@dataclass(frozen=True)
class ObsPath:
    """An OBS location: bucket and key (a folder's key ends with ``/``; the root is ``""``)."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"obs://{self.bucket}/{self.key}"

    @property
    def is_folder(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def folder(self) -> ObsPath:
        return self if self.is_folder else ObsPath(self.bucket, self.key + "/")


class ObsStore:
    """OBS through its S3 API (boto3), shared by the workers; thread-safe."""

    def __init__(self, endpoint: str, key: str, secret: str) -> None:
        self._endpoint, self._key, self._secret = endpoint, key, secret
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415 - only the workers need it
                from botocore.config import Config  # noqa: PLC0415

                options: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}
                try:  # botocore >= 1.36 would add CRC checksums that OBS-like stores refuse
                    config = Config(**options, request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required")
                except TypeError:  # an older botocore never adds them
                    config = Config(**options)
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self._endpoint, region_name="us-east-1",
                    aws_access_key_id=self._key, aws_secret_access_key=self._secret, config=config)
            return self._client

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        return keys

    def download(self, path: ObsPath, dest: Path, what: str) -> list[Path]:
        """Copy a file or a folder into ``dest``; answer the local files (none → StageError)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        dest.mkdir(parents=True, exist_ok=True)
        try:
            if not path.is_folder:
                try:
                    self.client().head_object(Bucket=path.bucket, Key=path.key)
                    target = dest / PurePosixPath(path.key).name
                    self.client().download_file(path.bucket, path.key, str(target))
                    return [target]
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                        raise
                path = path.folder()
            files = []
            for key in self._keys(path.bucket, path.key):
                rel = PurePosixPath(key[len(path.key):])
                if ".." in rel.parts or rel.is_absolute():
                    continue
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client().download_file(path.bucket, key, str(target))
                files.append(target)
        except (ClientError, BotoCoreError) as exc:
            raise StageError(f"downloading {what} from {path.url} failed: {exc}") from None
        if not files:
            raise StageError(f"{what} {path.url} does not exist or is empty")
        return files

    def upload(self, src: Path, path: ObsPath, what: str) -> int:
        """Copy every file below ``src`` to the OBS folder ``path``; answer how many."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        count = 0
        try:
            for file in sorted(p for p in src.rglob("*") if p.is_file()):
                key = path.folder().key + file.relative_to(src).as_posix()
                self.client().upload_file(str(file), path.bucket, key)
                count += 1
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StageError(f"uploading {what} to {path.url} failed: {exc}") from None
        return count

    def upload_file(self, file: Path, path: ObsPath, name: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self.client().upload_file(str(file), path.bucket, path.folder().key + name)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StageError(f"exporting the log to {path.url} failed: {exc}") from None
