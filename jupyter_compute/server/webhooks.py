"""Unguessable per-job tokens for platform callbacks (``compute/api/webhooks/{backend}/{token}``).

A platform cannot log in to Jupyter, so the callback URL carries its own credential: the
job id and an HMAC of it under a key kept in the data dir (so callbacks of jobs submitted
before a restart are still accepted).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class WebhookTokens:
    """Makes and checks the tokens of callback URLs."""

    def __init__(self, key_path: Path) -> None:
        self._key = self._load_or_create(key_path)

    @staticmethod
    def _load_or_create(path: Path) -> bytes:
        if path.exists():
            return path.read_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key

    def _mac(self, backend: str, job_id: str) -> str:
        return hmac.new(self._key, f"{backend}\0{job_id}".encode(), hashlib.sha256).hexdigest()

    def token(self, backend: str, job_id: str) -> str:
        return f"{job_id}.{self._mac(backend, job_id)}"

    def job_id(self, backend: str, token: str) -> str | None:
        """The job a token was made for, or None when it is not one of ours."""
        job_id, _, mac = token.partition(".")
        if not job_id or not mac or not token.isascii():
            return None
        return job_id if hmac.compare_digest(mac.encode(), self._mac(backend, job_id).encode()) else None
