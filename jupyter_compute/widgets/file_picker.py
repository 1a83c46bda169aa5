"""A browser of the Jupyter server's folders that picks a script, a notebook or a folder for a path field.

It lists a folder through :meth:`~jupyter_compute.client.Client.list_files` (the server's contents API, with
the client's token): a breadcrumb of the folders above, then the subfolders and the files whose names end in
one of ``suffixes``. A click on a folder opens it; a click on a file picks its path (``value``); with
``folders=True`` the folder shown can be picked too. The path field it serves stays free to type in.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import traitlets as T

from ._util import error_html, one_line

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["FilePicker"]

#: The list's entry for a folder: a folder sign before its name, a slash after it.
_FOLDER = "\U0001f4c1 {}/"
_UP = "\u2191 .."

FILE_PICKER_CSS = """
.jc-file-picker .jc-crumbs { flex-wrap: wrap; gap: 2px; align-items: center; }
.jc-file-picker .jc-crumbs .widget-button { width: auto; padding: 0 6px; height: 24px; line-height: 24px;
  background: var(--jp-layout-color2); color: var(--jp-ui-font-color1); }
.jc-file-picker .jc-crumbs .jc-sep { color: var(--jp-ui-font-color2); }
.jc-file-picker select { font-family: var(--jp-ui-font-family); background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1); }
"""


class FilePicker(W.VBox):
    """Browse the server's folders; ``value`` is the path (from the server's root) last picked."""

    value = T.Unicode("", help="the path picked (relative to the server's root); '' before a pick")
    path = T.Unicode("", help="the folder shown (relative to the server's root; '' is the root)")

    def __init__(self, client: Client | None, *, suffixes: tuple[str, ...] = (), folders: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-file-picker")
        self.client = client
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.folders = folders
        self.entries: list[dict[str, str]] = []
        self.crumbs = W.HBox()
        self.crumbs.add_class("jc-crumbs")
        self.listing = W.Select(options=[], rows=8, layout=W.Layout(width="100%"))
        self.listing.add_class("jc-file-list")
        self.pick_folder = W.Button(description="Use this folder", icon="folder",
                                    layout=W.Layout(width="auto", display=None if folders else "none"))
        self.pick_folder.add_class("jc-pick-folder")
        self.message = W.HTML()
        self.message.add_class("jc-file-message")
        self.children = [W.HTML(f"<style>{FILE_PICKER_CSS}</style>", layout=W.Layout(display="none")),
                         self.crumbs, self.listing, self.pick_folder, self.message]
        self.listing.observe(self._on_select, "value")
        self.pick_folder.on_click(lambda _: self.pick(self.path))
        self.browse("")

    # --- public -------------------------------------------------------------------------------

    def browse(self, path: str) -> None:
        """Show the folder ``path``: its subfolders and the files that fit (a message if it cannot be read)."""
        path = path.strip("/")
        self.message.value = ""
        try:
            if self.client is None:
                raise RuntimeError("no connection to the Jupyter server")
            listed = self.client.list_files(path)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never as a traceback
            self.message.value = error_html(f"cannot list '{path or '/'}': {one_line(exc)}")
            return
        self.entries = [e for e in listed if e["type"] == "directory" or self._fits(e["name"])]
        self.path = path
        self._show_entries()
        self._show_crumbs()

    def pick(self, path: str) -> None:
        """Pick ``path`` (the field the picker serves follows ``value``)."""
        self.value = path

    def names(self) -> list[str]:
        """The names listed now (folders end in ``/``)."""
        return [e["name"] + ("/" if e["type"] == "directory" else "") for e in self.entries]

    # --- inside -------------------------------------------------------------------------------

    def _fits(self, name: str) -> bool:
        return not self.suffixes or name.lower().endswith(self.suffixes)

    def _show_entries(self) -> None:
        """List the folder's entries (a way up first, below the root), none selected."""
        options: list[tuple[str, str]] = [(_UP, "..")] if self.path else []
        options += [(_FOLDER.format(e["name"]) if e["type"] == "directory" else e["name"], e["path"])
                    for e in self.entries]  # fmt: skip
        self.listing.unobserve(self._on_select, "value")
        self.listing.options = options
        self.listing.value = None
        self.listing.observe(self._on_select, "value")
        if not self.entries:
            what = " or ".join(self.suffixes) or "files"
            self.message.value = f'<span class="jc-muted">no folders or {html.escape(what)} here</span>'

    def _on_select(self, change: dict[str, Any]) -> None:
        chosen = change["new"]
        if chosen is None:
            return
        if chosen == "..":
            self.browse(self.path.rpartition("/")[0])
            return
        entry = next((e for e in self.entries if e["path"] == chosen), None)
        if entry is not None and entry["type"] == "directory":
            self.browse(entry["path"])
        elif entry is not None:
            self.pick(entry["path"])

    def _show_crumbs(self) -> None:
        parts = [p for p in self.path.split("/") if p]
        buttons: list[W.Widget] = []
        for depth, name in enumerate(["root", *parts]):
            target = "/".join(parts[:depth])
            button = W.Button(description=name, tooltip=f"open /{target}", layout=W.Layout(width="auto"))
            button.add_class("jc-crumb")
            button.on_click(lambda _, target=target: self.browse(target))
            if depth:
                sep = W.HTML('<span class="jc-sep">/</span>')
                sep.add_class("jc-sep")
                buttons.append(sep)
            buttons.append(button)
        old = self.crumbs.children
        self.crumbs.children = buttons
        for widget in old:
            widget.close()

    # --- static fallbacks -----------------------------------------------------------------------

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(name)}</li>" for name in self.names())
        return (f'<div class="jc-file-picker"><b>/{html.escape(self.path)}</b><ul>{items}</ul>'
                f"{self.message.value}</div>")

    def __repr__(self) -> str:
        return f"<FilePicker /{self.path}: {len(self.entries)} entries, picked {self.value or 'none'}>"
