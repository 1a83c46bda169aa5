"""How the ModelArts backend proves who it is: an IAM token, or AK/SK request signing.

Secrets are read at each call (:func:`.secrets.read_secret`: the environment variable, or its value the
server withheld from its children) and never kept on the backend.
AK/SK requests are signed with ``huaweicloudsdkcore``'s own signer (``SDK-HMAC-SHA256``); the
signed request is then sent byte for byte as signed: the path, the canonical query string, the
headers that were signed and the body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from ...errors import AuthError
from ..secrets import read_secret

TOKEN = "token"
AKSK = "aksk"
DEFAULT_TOKEN_ENV = "MODELARTS_TOKEN"
DEFAULT_AK_ENV = "HUAWEICLOUD_SDK_AK"
DEFAULT_SK_ENV = "HUAWEICLOUD_SDK_SK"
#: Secrets shorter than this are not scrubbed out of texts (they would mangle ordinary words).
MIN_SCRUB_LENGTH = 4


@dataclass(frozen=True)
class PreparedRequest:
    """A request ready to send: the full URL, the headers (signed ones included) and the body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def segment(value: str) -> str:
    """One path segment, percent-encoded (ids and names go into paths through this)."""
    return quote(str(value), safe="")


def canonical_query(params: Iterable[tuple[str, Any]]) -> str:
    """The query string as the signer canonicalises it (sorted, RFC 3986 encoded)."""
    request = SdkRequest(query_params=[(k, v) for k, v in params if v is not None])
    return str(Signer.process_canonical_query_string(request))


class Auth:
    """The credentials of one backend: which variables hold them, and how a request carries them."""

    def __init__(self, *, mode: str, token_env: str, ak_env: str, sk_env: str, project_id: str) -> None:
        self.mode = mode
        self.token_env = token_env
        self.ak_env = ak_env
        self.sk_env = sk_env
        self.project_id = project_id

    @classmethod
    def from_config(cls, config: Mapping[str, Any], project_id: str, texts: Mapping[str, str | None]) -> Auth:
        """Token auth when ``token_env`` is configured, AK/SK when ``ak_env``/``sk_env`` are; else
        AK/SK if both of its variables are set now, a token if its variable is.

        AuthError naming the variables when the chosen credentials are not set now.
        """
        token_env = texts.get("token_env") or DEFAULT_TOKEN_ENV
        ak_env = texts.get("ak_env") or DEFAULT_AK_ENV
        sk_env = texts.get("sk_env") or DEFAULT_SK_ENV
        if "token_env" in config:
            mode = TOKEN
        elif "ak_env" in config or "sk_env" in config or (read_secret(ak_env) and read_secret(sk_env)):
            mode = AKSK
        elif read_secret(token_env):
            mode = TOKEN
        else:
            raise AuthError(
                f"no ModelArts credentials: set the environment variables {ak_env} and {sk_env} of the Jupyter "
                f"server to your access key id and secret access key, or {token_env} to an IAM token"
            )
        auth = cls(mode=mode, token_env=token_env, ak_env=ak_env, sk_env=sk_env, project_id=project_id)
        auth.check()
        return auth

    def check(self) -> None:
        """AuthError naming the variables when the credentials of this mode are not set now.

        They are read again at every call, so a token or keys changed later are used then.
        """
        if self.mode == TOKEN:
            self._token()
        else:
            self._keys()

    def describe(self) -> str:
        """Which credentials are used, in words (variable names only)."""
        if self.mode == TOKEN:
            return f"the IAM token in ${self.token_env}"
        return f"the access keys in ${self.ak_env} and ${self.sk_env}"

    def _token(self) -> str:
        token = read_secret(self.token_env) or ""
        if not token:
            raise AuthError(
                f"no ModelArts credentials: set the environment variable {self.token_env} of the Jupyter "
                f"server to an IAM token (or configure ak_env/sk_env for access keys)"
            )
        return token

    def _keys(self) -> tuple[str, str]:
        ak, sk = read_secret(self.ak_env) or "", read_secret(self.sk_env) or ""
        if not (ak and sk):
            raise AuthError(
                f"no ModelArts credentials: set the environment variables {self.ak_env} and {self.sk_env} "
                f"of the Jupyter server to your access key id and secret access key (or {self.token_env} "
                "to an IAM token)"
            )
        return ak, sk

    def secrets(self) -> list[str]:
        """The secret values in force now (to scrub them out of any text)."""
        names = (self.token_env, self.ak_env, self.sk_env)
        return [v for v in (read_secret(n) for n in names) if v and len(v) >= MIN_SCRUB_LENGTH]

    def token_headers(self) -> dict[str, str]:
        """``X-Auth-Token`` and ``X-Project-Id`` (token mode only: an AK/SK signature covers one request)."""
        return {"X-Auth-Token": self._token(), "X-Project-Id": self.project_id}

    def prepare(
        self,
        method: str,
        endpoint: httpx.URL,
        path: str,
        *,
        params: Sequence[tuple[str, Any]] = (),
        json_body: Any = None,
    ) -> PreparedRequest:
        """The request to send for ``method`` ``path`` (already percent-encoded) under ``endpoint``."""
        body = b"" if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        headers = {"X-Project-Id": self.project_id}
        if body:
            headers["Content-Type"] = "application/json"
        base_path = endpoint.raw_path.decode("ascii").split("?")[0].rstrip("/")
        resource_path = base_path + path
        netloc = endpoint.netloc.decode("ascii")
        query = [(k, v) for k, v in params if v is not None]
        if self.mode == TOKEN:
            headers["X-Auth-Token"] = self._token()
            text = canonical_query(query)
            uri = f"{resource_path}?{text}" if text else resource_path
        else:
            ak, sk = self._keys()
            request = SdkRequest(
                method=method, schema=endpoint.scheme, host=netloc, resource_path=resource_path,
                query_params=query, header_params=headers, body=body,
            )  # fmt: skip
            Signer(BasicCredentials(ak, sk, self.project_id)).sign(request)
            headers, uri = dict(request.header_params), str(request.uri)
        return PreparedRequest(method, f"{endpoint.scheme}://{netloc}{uri}", headers, body)
