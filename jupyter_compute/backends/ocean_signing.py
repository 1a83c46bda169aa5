"""Consumer signatures and nonces for an Ocean Provider's signed Compute-to-Data calls.

The consumer signs ``<fields of the call> + str(nonce)``: eth-account signs the 32-byte keccak of
that UTF-8 text with the standard Ethereum message prefix (signing the text itself is what the
provider refuses). The private key lives in a :class:`ConsumerKey` only, whose ``repr`` shows the
public address and nothing else.
"""

from __future__ import annotations

import decimal
import re
import time
from collections.abc import Mapping
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from ..errors import AuthError
from .secrets import read_secret

#: The values each signed endpoint signs, in order, before the nonce (a missing value signs as "").
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "computeStart": ("consumerAddress", "documentId"),
    "computeStop": ("consumerAddress", "jobId", "documentId"),
    "computeDelete": ("consumerAddress", "jobId", "documentId"),
    "computeResult": ("consumerAddress", "jobId", "index"),
}

_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def signed_text(endpoint: str, values: Mapping[str, Any], nonce: int) -> str:
    """The message an endpoint's signature covers: its fields in the spec's order, then the nonce."""
    parts = ("" if values.get(name) is None else str(values[name]) for name in SIGNED_FIELDS[endpoint])
    return "".join(parts) + str(nonce)


class ConsumerKey:
    """An Ethereum private key and its checksummed address; signs without ever showing the key."""

    __slots__ = ("__key", "address")

    def __init__(self, key: bytes) -> None:
        self.__key = bytes(key)
        self.address: str = Account.from_key(self.__key).address  # EIP-55 checksummed

    @classmethod
    def from_env(cls, variable: str, environ: Mapping[str, str] | None = None) -> ConsumerKey:
        """The key held by environment variable ``variable``; AuthError naming it (never its value)."""
        value = ((read_secret(variable) if environ is None else environ.get(variable)) or "").strip()
        why = "the Ocean backend signs every compute request with this wallet's key"
        if not value:
            raise AuthError(f"no Ocean private key: set the environment variable {variable} of the Jupyter "
                            f"server to the consumer wallet's private key ({why})")  # fmt: skip
        if not _KEY.match(value):
            raise AuthError(f"the environment variable {variable} does not hold a private key: it must be 64 hex "
                            f"digits, with or without 0x ({why})")  # fmt: skip
        try:
            return cls(bytes.fromhex(value[2:] if value.startswith("0x") else value))
        except Exception:  # noqa: BLE001 — eth-keys refuses 0 and keys past the curve order
            raise AuthError(f"the environment variable {variable} does not hold a valid secp256k1 private key "
                            f"({why})") from None  # fmt: skip

    def sign(self, message: str) -> str:
        """``0x``-hex signature (v = 27/28) of ``keccak(message)`` with the Ethereum message prefix."""
        signed = Account.sign_message(encode_defunct(primitive=keccak(text=message)), self.__key)
        return "0x" + bytes(signed.signature).hex()

    def found_in(self, text: str) -> bool:
        """Whether ``text`` carries the key (with or without ``0x``, any case)."""
        return self.__key.hex() in text.lower()

    def scrub(self, text: str) -> str:
        """``text`` with the key (either spelling, any case) replaced by ``***``."""
        return re.sub(self.__key.hex(), "***", text, flags=re.IGNORECASE)

    def __repr__(self) -> str:
        return f"ConsumerKey(address={self.address!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a ConsumerKey cannot be pickled")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_nonce(value: Any) -> int:
    """The provider's stored nonce as an int (rounded up; digits kept exactly, never through float)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError("a nonce is a number, not a boolean")
    number = decimal.Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError(f"not a nonce: {value!r}")
    return int(number.to_integral_value(rounding=decimal.ROUND_CEILING))


class NonceCounter:
    """Nonces strictly above the last one used here and the provider's stored one.

    Milliseconds, not nanoseconds: ocean.py computes its next nonce as
    ``int(ceil(float(stored))) + 1``, and a 19-digit nanosecond nonce loses precision through a
    float, so after one of ours the same wallet's ocean.py calls would fail "stale nonce" about half
    the time. 13-digit millisecond values are exact in a float.
    """

    def __init__(self) -> None:
        self.last = 0

    def next(self, stored: int, *, floor: int = 0, clock_ms: int | None = None) -> int:
        """The nonce for the next signed call (remembered as the last one used)."""
        nonce = max(self.last + 1, stored + 1, floor + 1, now_ms() if clock_ms is None else clock_ms)
        self.last = nonce
        return nonce
