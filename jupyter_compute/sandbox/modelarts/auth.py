"""API Gateway authentication of the ModelArts sandbox: IAM tokens and ``SDK-HMAC-SHA256`` AK/SK signatures.

The signature check rebuilds the canonical request exactly as Huawei's SDK signer
(``huaweicloudsdkcore/signer/signer.py``) builds it, from what the server actually received: the method,
the raw path, the raw query, the headers named in ``SignedHeaders`` and the sha256 of the body bytes
(or ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD``). ``SignedHeaders`` must be lower-case, sorted, each name
once, and name ``host`` and ``x-sdk-date``; an ``X-Auth-Token`` sent beside a signature must be valid too.
Failures raise :class:`AuthFailure`, answered 401 with an APIG error body; a message never contains a
secret key or a token. (The project checks, 403, are the server's: ``server``.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
AUTH_ERROR_CODE = "APIGW.0301"
AUTH_ERROR_PREFIX = "Incorrect IAM authentication information: "
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


class AuthFailure(Exception):
    """A request the gateway refuses (401); ``str()`` is the APIG ``error_msg``."""

    def __init__(self, reason: str) -> None:
        super().__init__(AUTH_ERROR_PREFIX + reason)


@dataclass(frozen=True)
class Caller:
    """Who made a request that passed authentication."""

    method: str  # "token" | "aksk"
    access_key: str | None = None


def canonical_uri(raw_path: str) -> str:
    """Each path segment percent-encoded (``~`` kept), always ending in ``/``."""
    path = "/".join(quote(segment, safe="~") for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    """``key=value`` pairs sorted by key then value, each side percent-encoded."""
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def _header_value(raw: str) -> str:
    # HTTP headers arrive decoded as latin-1; the signer signed the UTF-8 text they carry.
    try:
        return raw.encode("latin-1").decode("utf-8").strip()
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw.strip()


def payload_hash(body: bytes, declared: str | None) -> str:
    """The payload line of the canonical request; a declared hash must match the body."""
    if not body:
        return EMPTY_SHA256
    actual = hashlib.sha256(body).hexdigest()
    if declared is None:
        return actual
    declared = declared.strip()
    if declared != UNSIGNED_PAYLOAD and not hmac.compare_digest(declared.lower(), actual):
        raise AuthFailure("verify aksk signature fail (X-Sdk-Content-Sha256 does not match the body)")
    return declared


def string_to_sign(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
                   signed: list[str], body: bytes, sdk_date: str) -> str:
    """The text the client signed, rebuilt from the request."""
    lines = []
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise AuthFailure(f"signed header {name!r} is missing from the request")
        lines.append(f"{name}:{_header_value(value)}")
    canonical = "\n".join([
        method.upper(), canonical_uri(raw_path), canonical_query(raw_query), "\n".join(lines) + "\n",
        ";".join(signed), payload_hash(body, headers.get("x-sdk-content-sha256")),
    ])
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def sign(secret_key: str, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` under the secret key."""
    return hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authenticate(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes, *,
                 credentials: Mapping[str, str], tokens: Collection[str],
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> Caller:
    """Check a request's credentials: a signature when ``Authorization`` is sent (and then any
    ``X-Auth-Token`` beside it), else the token; ``headers`` must answer case-insensitively (tornado's do)."""
    authorization = headers.get("authorization")
    token = headers.get("x-auth-token")
    if authorization is None:
        _check_token(token, tokens)
        return Caller("token")
    caller = _check_signature(method, raw_path, raw_query, headers, body, authorization, credentials, now())
    if token is not None:  # a token sent beside a signature must be valid too
        _check_token(token, tokens)
    return caller


def _signed_headers(text: str) -> list[str]:
    """The ``SignedHeaders`` names: lower-case, sorted without repeats, ``host`` among them."""
    signed = text.split(";")
    if any(not name or name != name.lower() for name in signed):
        raise AuthFailure("SignedHeaders must list lower-case header names separated by ';'")
    if any(a >= b for a, b in itertools.pairwise(signed)):
        raise AuthFailure("SignedHeaders must be sorted, each name once")
    if "host" not in signed:
        raise AuthFailure("host must be a signed header")
    return signed


def _check_token(token: str | None, tokens: Collection[str]) -> None:
    if token is None or not token.strip():
        raise AuthFailure("x-auth-token not found")
    if not any(hmac.compare_digest(token.strip().encode(), t.encode()) for t in tokens):
        raise AuthFailure("decrypt token fail (the token is invalid or expired)")


def _check_signature(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes,
                     authorization: str, credentials: Mapping[str, str], now: dt.datetime) -> Caller:
    match = _AUTH_RE.match(authorization.strip())
    if match is None:
        raise AuthFailure("the Authorization header is not of the form 'SDK-HMAC-SHA256 Access=<AK>, "
                          "SignedHeaders=<names>, Signature=<hex>'")
    access_key, signature = match["ak"], match["sig"].lower()
    signed = _signed_headers(match["signed"])
    sdk_date = headers.get("x-sdk-date")
    if sdk_date is None:
        raise AuthFailure("x-sdk-date not found")
    if "x-sdk-date" not in signed:
        raise AuthFailure("x-sdk-date must be a signed header")
    try:
        when = dt.datetime.strptime(sdk_date.strip(), DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthFailure(f"x-sdk-date {sdk_date.strip()!r} is not of the form YYYYMMDDTHHMMSSZ") from None
    if abs(now - when) > MAX_CLOCK_SKEW:
        raise AuthFailure("x-sdk-date differs from the server time by more than 15 minutes")
    secret = credentials.get(access_key)
    if secret is None:
        raise AuthFailure(f"ak {access_key} not exist")
    text = string_to_sign(method, raw_path, raw_query, headers, signed, body, when.strftime(DATE_FORMAT))
    if not hmac.compare_digest(sign(secret, text), signature):
        raise AuthFailure("verify aksk signature fail")
    return Caller("aksk", access_key)
