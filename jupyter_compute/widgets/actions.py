"""The actions a job offers beyond cancel and delete, in the job detail pane: a button each, and
the form of the one about to run.

The actions and their fields come from the server (``Client.job_detail``). Each form is built by
the submit form's machinery (each field rendered as the submit form renders it, by its type, with
its help line; :func:`~jupyter_compute.forms.check_values` checks the values), so no platform has
code here. A click on an action opens its form: its help, its fields, and a Run button (for an
action without fields the form is that button alone: the click that confirms it). Run checks the
values, shows each problem at its field, and hands the values that are given to the pane, which
runs the action in a background thread and calls :meth:`ActionBar.finished` with the outcome.

CSS classes: ``jc-actions`` (the buttons' box), ``jc-action`` and ``jc-action-<name>`` (each
button), ``jc-action-form`` (the open form), ``jc-action-run`` (its Run button),
``jc-action-close``; its fields take the submit form's ``jc-field``, ``jc-field-<name>`` and
``jc-field-error``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from ..errors import ComputeError
from ..forms import Form, FormField, check_values
from ._util import close_tree, error_html, set_hidden
from .fields import FieldControl
from .form import _control_and_help, field_class

__all__ = ["ActionBar", "action_class"]

_NOT_CLASS = re.compile(r"[^A-Za-z0-9_-]+")


def action_class(name: str) -> str:
    """The CSS class of an action's button: ``jc-action-<name>`` (other characters as ``-``)."""
    return "jc-action-" + _NOT_CLASS.sub("-", name)


def _given(value: Any) -> bool:
    """A value filled in (blank text, None and empty lists or objects are not)."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return value is not None


class ActionBar(w.VBox):
    """One button per action a job offers, and the form of the action opened.

    ``on_run(name, values)`` is called by :meth:`run` with the checked values of the open form.
    """

    def __init__(self, on_run: Callable[[str, dict[str, Any]], None]) -> None:
        self._on_run = on_run
        self.actions: dict[str, dict[str, Any]] = {}
        self.buttons: dict[str, w.Button] = {}
        self.form = Form(fields=())
        self.controls: dict[str, FieldControl] = {}
        self.messages: dict[str, w.HTML] = {}
        self.opened: str | None = None
        self._disabled: str | None = None
        self.buttons_box = w.HBox(layout=w.Layout(flex_flow="row wrap")).add_class("jc-actions")
        self.help = w.HTML()
        self.fields_box = w.VBox()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play").add_class("jc-action-run")
        self.close_button = w.Button(description="Close").add_class("jc-action-close")
        self.form_box = w.VBox(
            [self.help, self.fields_box, w.HBox([self.run_button, self.close_button])],
            layout=w.Layout(border="1px solid #e0e0e0", padding="4px", margin="4px 0"),
        ).add_class("jc-action-form")
        set_hidden(self.form_box, True)
        set_hidden(self.buttons_box, True)
        super().__init__([self.buttons_box, self.form_box])
        self.run_button.on_click(lambda _b: self.run())
        self.close_button.on_click(lambda _b: self.close_form())

    def __repr__(self) -> str:
        return f"<ActionBar {', '.join(self.actions) or 'no actions'}{'; open: ' + self.opened if self.opened else ''}>"

    # --- the buttons --------------------------------------------------------------------------

    def show(self, actions: Sequence[Mapping[str, Any]], *, disabled: str | None = None) -> None:
        """Offer ``actions`` (``Client.job_detail``'s), a button each; ``disabled``: why none can run now.

        The open form stays open while its action is still offered the same (so typed values stay).
        """
        offered = {str(a.get("name")): dict(a) for a in actions if a.get("name")}
        if offered != self.actions:
            if self.opened is not None and offered.get(self.opened) != self.actions.get(self.opened):
                self.close_form()
            self._make_buttons(offered)
        self.disable(disabled)

    def disable(self, reason: str | None) -> None:
        """Grey out every action (and close the form) saying why; None enables them again."""
        self._disabled = reason
        for name, button in self.buttons.items():
            button.disabled = reason is not None
            button.tooltip = reason or self.actions[name].get("help") or self.actions[name].get("label", name)
        if reason is not None:
            self.close_form()

    def _make_buttons(self, offered: dict[str, dict[str, Any]]) -> None:
        old = self.buttons_box.children
        self.actions = offered
        self.buttons = {}
        for name, action in offered.items():
            button = w.Button(description=str(action.get("label") or name), layout=w.Layout(width="auto"))
            button.add_class("jc-action").add_class(action_class(name))
            button.on_click(lambda _b, name=name: self.open_form(name))
            self.buttons[name] = button
        self.buttons_box.children = tuple(self.buttons.values())
        set_hidden(self.buttons_box, not offered)
        for widget in old:
            widget.close()

    # --- the form -----------------------------------------------------------------------------

    def open_form(self, name: str) -> None:
        """Show the form of action ``name`` (replacing any other)."""
        if name not in self.actions:
            raise KeyError(f"no action '{name}' is offered (there are: {', '.join(self.actions) or 'none'})")
        if self._disabled is not None:
            return
        action = self.actions[name]
        self.close_form()
        self.form = Form.from_dict(action)
        rows = [self._field_row(form_field) for form_field in self.form.fields]
        self.fields_box.children = rows
        label = str(action.get("label") or name)
        self.help.value = f"<b>{html.escape(label)}</b> " + (
            f'<span class="jc-muted">{html.escape(str(action["help"]))}</span>' if action.get("help") else ""
        )
        self.run_button.description = label
        self.run_button.disabled = False
        self.opened = name
        set_hidden(self.form_box, False)

    def _field_row(self, form_field: FormField) -> w.Widget:
        control, help_html = _control_and_help(form_field)
        control.widget.add_class("jc-field").add_class(field_class(form_field.name))
        message = w.HTML().add_class("jc-field-error")
        self.controls[form_field.name] = control
        self.messages[form_field.name] = message
        helptext = w.HTML(help_html, layout=w.Layout(margin="0 0 0 8px", flex="1 1 auto"))
        return w.VBox([w.HBox([control.widget, helptext]), message]).add_class("jc-field-row")

    def close_form(self) -> None:
        """Hide the form (its fields are dropped)."""
        self.opened = None
        set_hidden(self.form_box, True)
        old = self.fields_box.children
        self.fields_box.children = ()
        self.controls, self.messages = {}, {}
        for row in old:
            close_tree(row)

    def values(self) -> dict[str, Any]:
        """The value of every field of the open form."""
        return {name: control.get() for name, control in self.controls.items()}

    def set_values(self, **values: Any) -> None:
        """Fill fields of the open form by name."""
        for name, value in values.items():
            if name not in self.controls:
                raise KeyError(f"action '{self.opened}' has no field '{name}'")
            self.controls[name].set(value)

    def run(self) -> bool:
        """Check the open form; when every value fits, hand those given to ``on_run`` (True then)."""
        name = self.opened
        if name is None or self._disabled is not None:
            return False
        values = self.values()
        problems = check_values(self.form, values)
        for field_name, message in self.messages.items():
            message.value = error_html(problems.get(field_name, ""))
        if problems:
            return False
        self.run_button.disabled = True
        self._on_run(name, {key: value for key, value in values.items() if _given(value)})
        return True

    def finished(self, name: str, error: ComputeError | None = None) -> None:
        """The pane ran action ``name``: close its form, or show the refusal at the field it names."""
        if self.opened != name:
            return
        self.run_button.disabled = False
        if error is None:
            self.close_form()
            return
        message = self.messages.get(error.field or "")
        if message is not None:
            message.value = error_html(error.message)

    def close(self) -> None:
        for child in self.children:
            close_tree(child)
        super().close()
