"""Reading a ``%submit_job`` line: its options, its program as typed, ``--param`` values (and
``--extra`` and ``%job_action``'s ``--value``, read the same way).

The words of a line are split the way a shell splits them (quotes and backslashes keep a word
whole), but each word keeps its place in the line, so the program is passed on exactly as typed.
Nothing here imports IPython's magics machinery; :mod:`jupyter_compute.magics` re-exports
``split_submit_line``, ``parse_param`` and ``program_fields``.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    import argparse

__all__ = ["Token", "parse_param", "program_fields", "split_submit_line", "tokens"]

_QUOTES = "'\""
#: What a ``name=value`` of each option is called in a message.
_OPTION_WORDS = {"--param": "parameter", "--extra": "extra value", "--value": "value"}


@dataclass
class Token:
    """One shell-like word of a line: where it starts and ends, and its text as typed."""

    start: int
    end: int
    text: str

    @property
    def value(self) -> str:
        """The token with shell quoting removed (as typed if the quotes are unbalanced)."""
        try:
            parts = shlex.split(self.text)
        except ValueError:
            return self.text
        return parts[0] if len(parts) == 1 else self.text


def tokens(line: str) -> list[Token]:
    """Shell-like words of ``line`` with their positions; quotes and backslashes keep words whole."""
    found: list[Token] = []
    i = 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        end = _word_end(line, i)
        found.append(Token(i, end, line[i:end]))
        i = end
    return found


def _word_end(line: str, start: int) -> int:
    """Where the word starting at ``start`` ends: at whitespace outside quotes, or the line's end.

    A backslash keeps the next character in the word, outside quotes and inside double quotes.
    """
    i, quote = start, None
    while i < len(line):
        char = line[i]
        if char == "\\" and quote != "'" and i + 1 < len(line):
            i += 2
            continue
        if quote is None and char.isspace():
            break
        quote = _quote_after(quote, char)
        i += 1
    return i


def _quote_after(quote: str | None, char: str) -> str | None:
    """The quote open after ``char``, when ``quote`` was open before it (None: none)."""
    if quote is None:
        return char if char in _QUOTES else None
    return None if char == quote else quote


def _is_option(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not _is_number(word)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _takes_value(action: argparse.Action | None) -> bool:
    return action is not None and action.nargs != 0


def _arity(parser: argparse.ArgumentParser, word: str) -> int | None:
    """How many words option ``word`` takes after it; None if it is no option of ``parser``.

    ``--name=value`` and ``-nvalue`` carry their value and take no further word.
    """
    actions = parser._option_string_actions
    if word.startswith("--") and "=" in word:
        return 0 if _takes_value(actions.get(word.split("=", 1)[0])) else None
    action = actions.get(word)
    if action is not None:
        return 1 if _takes_value(action) else 0
    if not word.startswith("--") and len(word) > 2 and _takes_value(actions.get(word[:2])):
        return 0  # a short option with its value attached: -ndemo
    return None


def split_submit_line(parser: argparse.ArgumentParser, line: str) -> tuple[list[str], str]:
    """The option words of a ``%submit_job`` line, and its program exactly as typed.

    Options come first, as with ``docker run`` or ``ssh``: the first word that is not an option
    starts the program, and everything from there on is the program, its own flags included
    (``python train.py --timeout 30`` runs with ``--timeout 30``; the job gets no timeout).
    ``--`` ends the options explicitly: everything after it is the program, even a first word
    that starts with ``-``.
    """
    words = tokens(line)
    options: list[str] = []
    i = 0
    while i < len(words):
        word = words[i].value
        if words[i].text == "--":
            i += 1
            break
        if not _is_option(word):
            break
        taken = _option_words(parser, words, i)
        options.extend(taken)
        i += len(taken)
    program = line[words[i].start : words[-1].end] if i < len(words) else ""
    return options, program


def _option_words(parser: argparse.ArgumentParser, words: list[Token], i: int) -> list[str]:
    """The option at ``words[i]`` and the value words it takes (quoting removed)."""
    word = words[i].value
    arity = _arity(parser, word)
    if arity is None:
        raise UsageError(
            f"unrecognized option '{word}': options go before the program (see %submit_job "
            "--help); put -- before a program that starts with '-'"
        )
    if i + arity >= len(words):
        raise UsageError(f"option '{word}' wants a value")
    return [t.value for t in words[i : i + 1 + arity]]


def parse_param(text: str, option: str = "--param") -> tuple[str, Any]:
    """``name=value``: the value read as JSON when it is (numbers, true/false, lists), else text.

    ``option`` is the option that gave it (``--param``, ``--extra``, ``--value``), for the message
    of a malformed one.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    what = _OPTION_WORDS.get(option, option)
    if not sep:
        raise UsageError(f"{what} '{text}' has no value: write {option} name=value")
    if not name:
        raise UsageError(f"{what} '{text}' has no name: write {option} name=value")
    try:
        value = json.loads(raw)
    except ValueError:
        return name, raw
    if isinstance(value, float) and not math.isfinite(value):
        return name, raw
    return name, value


def program_fields(program: str, cwd: Path | None = None) -> dict[str, str]:
    """The spec field of a ``%submit_job`` program: a script, a notebook, else a shell command.

    A single word ending in ``.py`` that names an existing file is a script, one ending in
    ``.ipynb`` a notebook (both sent as absolute paths when they exist here); anything else is
    a shell command, sent exactly as typed.
    """
    words = tokens(program)
    if len(words) == 1:
        word = words[0].value
        path = Path(word).expanduser()
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if word.endswith(".py") and path.is_file():
            return {"script": str(path.resolve())}
        if word.endswith(".ipynb"):
            return {"notebook": str(path.resolve()) if path.is_file() else word}
    return {"command": program}
