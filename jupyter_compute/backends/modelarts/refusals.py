"""Which spec field a ModelArts refusal is about, from the words it says."""

from __future__ import annotations

from collections.abc import Sequence


def field_hint(said: str, hints: Sequence[tuple[str, str]]) -> str | None:
    """The spec field a refusal is about: the field of the first hint word in ``said``, if any."""
    lowered = said.lower()
    return next((field for word, field in hints if word in lowered), None)
