"""One choice of program kind for a form whose fields hold alternative programs.

A backend that takes one of several programs (a command, a script, code, a notebook; an algorithm or raw
code) declares them as a ``one_of`` group of its form. The submit form shows one selector of those kinds
and only the field of the kind chosen; the spec it sends holds that one program (the others are left out),
so what is sent is what a spec with exactly one of them always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as W

from ..forms import Form

__all__ = ["PROGRAM_CSS", "ProgramChoice", "program_group"]

#: The selector's row: its label in the form's label column (right-aligned like the fields' labels), the
#: buttons as wide as their words.
PROGRAM_CSS = """
.jc-program-row { align-items: center; margin: 2px 0 4px 0; }
.jc-program-row .jc-program-label { text-align: right; padding-right: 8px; white-space: nowrap;
  color: var(--jp-widgets-label-color, var(--jp-ui-font-color1)); font-size: var(--jp-widgets-font-size); }
.jc-program-row .widget-toggle-buttons .widget-toggle-button { width: auto; padding: 0 10px; }
"""


def program_group(form: Form) -> tuple[str, ...]:
    """The form's first group of alternatives (two or more of its fields, exactly one to give); () if none."""
    for group in form.one_of:
        if len(group) > 1 and all(form.has(name) for name in group):
            return tuple(group)
    return ()


class ProgramChoice:
    """The selector of program kinds (``widget``) and the rows of their fields, one shown at a time."""

    def __init__(self, form: Form, group: tuple[str, ...], label_width: int) -> None:
        self.group = group
        self.rows: dict[str, W.Widget] = {}
        self.widget = W.ToggleButtons(
            options=[(form.label(name), name) for name in group], value=group[0],
            tooltips=[form.field(name).help or form.label(name) for name in group], style={"button_width": "auto"},
        )
        self.widget.add_class("jc-program-kind")
        self.widget.observe(lambda change: self.show(change["new"]), "value")
        label = W.HTML('<div class="jc-program-label">Program</div>',
                       layout=W.Layout(width=f"{label_width}px", flex="0 0 auto"))
        #: The row shown in the form: the label in the label column, then the kinds.
        self.row = W.HBox([label, self.widget])
        self.row.add_class("jc-program-row")

    @property
    def kind(self) -> str:
        """The program kind chosen: the name of its field."""
        return str(self.widget.value)

    def choose(self, kind: str) -> None:
        """Choose ``kind`` (one of the group) and show its field only."""
        if kind not in self.group:
            raise KeyError(f"no program kind '{kind}' here (there are: {', '.join(self.group)})")
        self.widget.value = kind
        self.show(kind)

    def show(self, kind: str) -> None:
        """Show the row of ``kind``'s field, hide the others'."""
        for name, row in self.rows.items():
            row.layout.display = None if name == kind else "none"

    def given(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with the fields of the kinds not chosen left empty (the spec holds one program)."""
        return {name: (None if name in self.group and name != self.kind else value) for name, value in values.items()}

    def first_given(self, values: Mapping[str, Any]) -> str:
        """The first kind whose field holds a value (a default), else the first kind."""
        return next((name for name in self.group if values.get(name) not in (None, "")), self.group[0])

    def target(self, name: str) -> str:
        """Where a message about field ``name`` shows: the chosen kind's field for any kind of the group."""
        return self.kind if name in self.group else name
