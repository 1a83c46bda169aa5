"""Patterns for form text that Python's ``re`` and JSON Schema (JavaScript) read alike.

The checks in Python and the JSON Schemas the server publishes must agree on what blank text
is and what a field's ``pattern`` accepts; both are written here once.
"""

from __future__ import annotations

from typing import Any

#: The characters ``str.strip()`` removes (``str.isspace``), in ``\uXXXX`` escapes that Python and JavaScript
#: (and so JSON Schema) read alike: their ``\s`` differ. tests/test_forms.py checks the list.
_BLANK_CHARS = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A white space character, and one that is not: text holding one of the latter is given (not blank).
BLANK = f"[{_BLANK_CHARS}]"
NON_BLANK = f"[^{_BLANK_CHARS}]"
#: A ``pattern`` for text that is not blank.
NOT_BLANK_TEXT = f"[\\s\\S]*{NON_BLANK}[\\s\\S]*"

#: Text holding a character that is not white space, and text without a NUL character (the forms refuse
#: one). Lookaheads: test tools that turn a one-class pattern and a maximum length into a counted
#: repetition (``[^ ]{1,262144}``, slow to build) leave them as they are.
HAS_NON_BLANK = f"^(?=[\\s\\S]*{NON_BLANK})"
NO_NUL = "^(?![\\s\\S]*\\u0000)"


def full_match(pattern: str) -> str:
    """A JSON Schema ``pattern`` (a search) that matches what ``re.fullmatch(pattern, ...)`` does."""
    return f"^(?:{pattern})$"


def with_patterns(schema: dict[str, Any], patterns: list[str]) -> dict[str, Any]:
    """``schema`` whose text matches every one of ``patterns`` (one ``pattern`` per schema: the rest in allOf)."""
    first, *rest = patterns
    return {**schema, "pattern": first, **({"allOf": [{"pattern": p} for p in rest]} if rest else {})}


def text_schema(pattern: str | None, *, given: bool) -> dict[str, Any]:
    """Text fitting ``pattern`` (any text when None): given, it is not blank and fits it; otherwise it may
    also be blank (the forms skip blank text). Never with a NUL character."""
    if given:
        patterns = [HAS_NON_BLANK, *([full_match(pattern)] if pattern is not None else [])]
    else:
        patterns = [full_match(f"(?:{pattern})|{BLANK}*")] if pattern is not None else []
    return with_patterns({"type": "string"}, [NO_NUL, *patterns])
