"""A job's detail (what its platform says of it beyond its status) as HTML and as text.

Facts are JSON values: text, numbers, booleans, null, and lists and objects of them. Nothing is
cut: an object becomes a nested table (HTML) or indented ``key: value`` lines (text), a list of
plain values one comma-separated line, a list of objects one item after the other; text keeps
its line breaks. The detail pane and ``%job_detail`` show the same. No ipywidgets here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._util import MUTED, Raw, html_table

__all__ = ["actions_html", "actions_text", "detail_html", "detail_text", "facts_html", "facts_text", "value_text"]

_NONE = "(none)"
_CELL = 'style="text-align:left;vertical-align:top;padding:1px 6px"'


def _is_plain(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


def value_text(value: Any) -> str:
    """A plain JSON value as people read it: text as it is, ``true``/``false``, numbers, ``—`` for null."""
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False)


# --- HTML -----------------------------------------------------------------------------------------


def _value_html(value: Any) -> str:
    """A fact's value as HTML: nested tables for objects, a list for lists of objects or lists."""
    if isinstance(value, Mapping):
        return _mapping_html(value)
    if isinstance(value, (list, tuple)):
        return _list_html(value)
    return f'<span style="white-space:pre-wrap;overflow-wrap:anywhere">{html.escape(value_text(value))}</span>'


def _mapping_html(value: Mapping[str, Any]) -> str:
    if not value:
        return f'<span style="color:{MUTED}">{_NONE}</span>'
    rows = "".join(
        f"<tr><th {_CELL}>{html.escape(str(key))}</th><td {_CELL}>{_value_html(item)}</td></tr>"
        for key, item in value.items()
    )
    return f'<table class="jc-fact-table" style="border-collapse:collapse">{rows}</table>'


def _list_html(value: Sequence[Any]) -> str:
    if not value:
        return f'<span style="color:{MUTED}">{_NONE}</span>'
    if all(_is_plain(item) for item in value):
        return _value_html(", ".join(value_text(item) for item in value))
    items = "".join(f"<li>{_value_html(item)}</li>" for item in value)
    return f'<ol style="margin:0;padding-left:1.4em">{items}</ol>'


def facts_html(facts: Mapping[str, Any]) -> str:
    """The facts as a two-column table (class ``jc-facts-table``); ``""`` when there are none."""
    if not facts:
        return ""
    rows = [(str(name), Raw(_value_html(value))) for name, value in facts.items()]
    return html_table(("fact", "value"), rows, css_class="jc-facts-table")


def actions_html(actions: Sequence[Mapping[str, Any]]) -> str:
    """The actions a job offers as a table: name, label, the values each takes (``*`` required), help."""
    if not actions:
        return ""
    rows = [(a.get("name", ""), a.get("label", ""), _fields_text(a), a.get("help", "")) for a in actions]
    return html_table(("action", "label", "values", "help"), rows, css_class="jc-actions-table")


def detail_html(detail: Mapping[str, Any]) -> str:
    """Facts and actions of a job's detail (``Client.job_detail``), as HTML."""
    parts = [facts_html(detail.get("facts") or {}), actions_html(detail.get("actions") or [])]
    return "".join(parts) or f'<span style="color:{MUTED}">its platform says nothing more of this job</span>'


# --- text -----------------------------------------------------------------------------------------


def _value_lines(value: Any) -> list[str]:
    """A fact's value as lines of text: nested objects and lists indented under their key."""
    if isinstance(value, Mapping):
        return _mapping_lines(value) if value else [_NONE]
    if isinstance(value, (list, tuple)):
        return _list_lines(value) if value else [_NONE]
    return value_text(value).splitlines() or [""]


def _mapping_lines(value: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, item in value.items():
        sub = _value_lines(item)
        if len(sub) == 1 and not _nested(item):
            lines.append(f"{key}: {sub[0]}")
        else:
            lines.append(f"{key}:")
            lines.extend("  " + line for line in sub)
    return lines


def _nested(value: Any) -> bool:
    """An object with keys, or a list holding objects or lists: shown on lines of its own."""
    if isinstance(value, Mapping):
        return bool(value)
    return isinstance(value, (list, tuple)) and not _plain_list(value)


def _plain_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_plain(item) for item in value)


def _list_lines(value: Sequence[Any]) -> list[str]:
    if _plain_list(value):
        return (", ".join(value_text(item) for item in value)).splitlines() or [""]
    lines: list[str] = []
    for item in value:
        sub = _value_lines(item)
        lines.append("- " + sub[0])
        lines.extend("  " + line for line in sub[1:])
    return lines


def facts_text(facts: Mapping[str, Any]) -> str:
    """The facts as aligned ``name  value`` lines; nested values on indented lines below."""
    if not facts:
        return ""
    width = max(len(str(name)) for name in facts)
    lines: list[str] = []
    for name, value in facts.items():
        sub = _value_lines(value)
        lines.append(f"{str(name).ljust(width)}  {sub[0]}".rstrip())
        lines.extend(" " * (width + 2) + line for line in sub[1:])
    return "\n".join(lines)


def _fields_text(action: Mapping[str, Any]) -> str:
    fields = action.get("fields") or []
    return ", ".join(f"{f.get('name', '?')}{'*' if f.get('required') else ''}" for f in fields)


def actions_text(actions: Sequence[Mapping[str, Any]]) -> str:
    """One line per action: its name, label, the values it takes (``*`` required) and help."""
    lines = []
    for action in actions:
        takes = _fields_text(action)
        line = f"  {action.get('name', '')}: {action.get('label', '')}"
        line += f" (values: {takes})" if takes else ""
        line += f" — {action.get('help')}" if action.get("help") else ""
        lines.append(line)
    return "\n".join(lines)


def detail_text(detail: Mapping[str, Any]) -> str:
    """Facts and actions of a job's detail (``Client.job_detail``), as text."""
    facts, actions = detail.get("facts") or {}, detail.get("actions") or []
    parts = [facts_text(facts)] if facts else []
    if actions:
        parts.append("actions (%job_action JOB ACTION -v NAME=VALUE):\n" + actions_text(actions))
    return "\n".join(parts) or "its platform says nothing more of this job"
