"""The Ocean Provider's error answers in words: its message, and the spec field a refusal is about.

A provider answers errors in several shapes (``{"error": "..."}``, ``{"errors": {...}}``,
``{"message": "...", "error": {"dataset.documentId": "did_not_found"}}``, a bare list or text);
these functions read all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

#: The provider's error codes, in words, and the spec field each one is about ("": the field its key names,
#: as in ``{"error": {"dataset.documentId": "did_not_found"}}`` or ``{"algorithm": "did_not_found"}``).
PROVIDER_CODES: Mapping[str, tuple[str, str]] = {
    "not_trusted_algo": ("algorithm", "the dataset does not trust this algorithm"),
    "no_raw_algo_allowed": ("code", "the dataset does not allow raw algorithms"),
    "fees_not_paid": ("inputs", "the provider fees of this order were not paid"),
    "order_invalid": ("inputs", "the order (transferTxId) is not valid for this dataset and this consumer"),
    "service_not_found": ("inputs", "the dataset has no service with this serviceId"),
    "not_found": ("", "the asset has no service with this serviceId"),
    "did_not_found": ("", "the provider knows no asset with this DID"),
    "not_algo": ("algorithm", "this DID is not an algorithm"),
    "in_use_or_not_on_chain": ("algorithm", "the algorithm's order (transferTxId) is not valid for this consumer"),
    "meta_oneof_url_rawcode_remote": ("code", "the raw algorithm has no code"),
}
FIELD_OF_KEY: Mapping[str, str] = {
    "dataset": "inputs", "datasets": "inputs", "additionalDatasets": "inputs", "algorithm": "algorithm",
    "environment": "environment",
}  # fmt: skip
ERROR_KEYS = ("error", "errors")
_KEY_HEAD = re.compile(r"[.\[]")


def provider_words(response: httpx.Response) -> str:
    """The provider's own words from an error answer, whichever of its error shapes it uses."""
    body = response_body(response)
    said = words(body) if body is not None else ""
    return said or (response.text or "").strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"


def response_body(response: httpx.Response) -> Any:
    """The answer's JSON body; None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def words(body: Any) -> str:
    """Any piece of an error body as one line of text."""
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, list):
        return "; ".join(w for w in (words(item) for item in body) if w)
    if isinstance(body, dict):
        return _object_words(body)
    return "" if body is None else str(body)


def _object_words(body: Mapping[str, Any]) -> str:
    """``message: error; error`` from an error object (either part may be missing)."""
    parts = _error_parts(body)
    message = words(body.get("message")) if body.get("message") else ""
    if message and parts:
        return f"{message}: {'; '.join(parts)}"
    return message or "; ".join(parts)


def _error_parts(body: Mapping[str, Any]) -> list[str]:
    """The words of an error object's ``error`` and ``errors`` (``key: words`` when they are keyed)."""
    parts: list[str] = []
    for key in ERROR_KEYS:
        value = body.get(key)
        if isinstance(value, dict):
            parts += [f"{k}: {words(v)}" for k, v in value.items()]
        elif value not in (None, "", [], False):
            parts.append(words(value))
    return parts


def refusal_field(body: Any, said: str) -> tuple[str | None, str]:
    """(the spec field a 4xx answer is about, our words for its error code) from its body."""
    items = _keyed_errors(body)
    if "signature" in items or "nonce" in items:
        return None, ""
    for key, value in items.items():
        found = _field_of_error(str(key), value)
        if found is not None:
            return found
    return ("environment" if "environment" in said.lower() else None), ""


def _keyed_errors(body: Any) -> dict[str, Any]:
    """The keyed errors of a body: its ``errors`` object, then its ``error`` object (which wins)."""
    items: dict[str, Any] = {}
    if isinstance(body, dict):
        for key in ("errors", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                items.update(value)
    return items


def _field_of_error(key: str, value: Any) -> tuple[str | None, str] | None:
    """The field and words of one keyed error; None when neither its code nor its key says."""
    keyed = FIELD_OF_KEY.get(_KEY_HEAD.split(key)[0])  # "dataset.documentId", "datasets[1]": the inputs
    code = words(value)
    if code in PROVIDER_CODES:
        field, meaning = PROVIDER_CODES[code]
        return field or keyed, meaning
    if keyed is not None:
        return keyed, ""
    return None


def is_signature_problem(said: str) -> bool:
    """Whether the provider's words are about the signature or its nonce."""
    lowered = said.lower()
    return "signature" in lowered or "nonce" in lowered
