"""The environments as a table: a grid whose header sorts and whose rows choose, nothing cut.

Each cell is a flat button (a click anywhere in a row chooses it; a click on a heading sorts by that
column, again to reverse). Rows are ``display: contents`` boxes, so the grid sizes the columns to
their content and wraps long text instead of clipping it; the grid is as tall as its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ipywidgets as W
import traitlets as T

from ..models import Environment
from ._util import close_tree, fmt_number

__all__ = ["ENV_COLUMNS", "TABLE_CSS", "EnvironmentTable", "filter_environments", "sort_environments"]

Key = tuple[str, str]  # (backend, id)


@dataclass(frozen=True)
class Column:
    """One column: its key, heading, cell text, sort key (None sorts last) and alignment."""

    key: str
    heading: str
    text: Callable[[Environment], str]
    sort: Callable[[Environment], Any]
    numeric: bool = False


def _gpus(env: Environment) -> str:
    if not env.gpus:
        return "—" if env.gpus is None else "0"
    return f"{env.gpus} × {env.gpu_type}" if env.gpu_type else str(env.gpus)


def _jobs(env: Environment) -> str:
    if env.running_jobs is None and env.max_jobs is None:
        return "—"
    running = "?" if env.running_jobs is None else str(env.running_jobs)
    return f"{running} / {'∞' if env.max_jobs is None else env.max_jobs}"


def _load(env: Environment) -> float | None:
    if env.running_jobs is None or not env.max_jobs:
        return None
    return env.running_jobs / env.max_jobs


ENV_COLUMNS: tuple[Column, ...] = (
    Column("backend", "backend", lambda e: e.backend, lambda e: e.backend.lower()),
    Column("name", "name", lambda e: e.name or e.id, lambda e: (e.name or e.id).lower()),
    Column("cpus", "CPUs", lambda e: fmt_number(e.cpus), lambda e: e.cpus, True),
    Column("gpus", "GPUs", _gpus, lambda e: e.gpus, True),
    Column("memory_gb", "memory GB", lambda e: fmt_number(e.memory_gb), lambda e: e.memory_gb, True),
    Column("disk_gb", "disk GB", lambda e: fmt_number(e.disk_gb, 0), lambda e: e.disk_gb, True),
    Column("price", "price", lambda e: fmt_number(e.price, 2), lambda e: e.price, True),
    Column("jobs", "jobs", _jobs, _load, True),
)
COLUMN_KEYS = tuple(c.key for c in ENV_COLUMNS)


def sort_environments(envs: Iterable[Environment], key: str, descending: bool = False) -> list[Environment]:
    """Sorted by the column ``key``; unknown values last whichever the direction."""
    get = next(column.sort for column in ENV_COLUMNS if column.key == key)
    envs = list(envs)
    known = [e for e in envs if get(e) is not None]
    unknown = [e for e in envs if get(e) is None]
    return sorted(known, key=get, reverse=descending) + unknown


def filter_environments(envs: Iterable[Environment], text: str) -> list[Environment]:
    """Those whose backend, id, name, description or GPU type contain every word of ``text``."""
    words = text.lower().split()

    def haystack(env: Environment) -> str:
        return " ".join(str(v) for v in (env.backend, env.id, env.name, env.description, env.gpu_type) if v).lower()

    return [e for e in envs if all(w in haystack(e) for w in words)]


def key_of(env: Environment) -> Key:
    return (env.backend, env.id)


#: The table's look: flat cells that wrap, a sticky header, the chosen row in the theme's brand colour.
TABLE_CSS = """<style>
.jc-env-table { border: 1px solid var(--jp-border-color2); border-radius: 2px; max-height: 60vh;
  overflow: auto; align-content: start; background: var(--jp-layout-color1); }
.jc-env-table button.jc-cell {
  height: auto !important; min-height: 26px; width: auto !important; margin: 0 !important;
  padding: 3px 10px !important; white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; overflow-wrap: break-word; text-align: left; line-height: 1.35;
  background: transparent; color: var(--jp-ui-font-color1); box-shadow: none !important;
  border: 0; border-bottom: 1px solid var(--jp-border-color2); border-radius: 0;
  font-size: var(--jp-ui-font-size1); font-variant-numeric: tabular-nums; cursor: pointer; }
.jc-env-table button.jc-cell.jc-num { text-align: right; }
.jc-env-table button.jc-cell.jc-mark { padding: 3px 2px 3px 8px !important;
  color: var(--jp-brand-color1); font-weight: 700; }
.jc-env-table .jc-env-head > button.jc-cell { position: sticky; top: 0; z-index: 1; font-weight: 600;
  background: var(--jp-layout-color2); color: var(--jp-ui-font-color1);
  border-bottom: 1px solid var(--jp-border-color1); white-space: nowrap !important; }
.jc-env-table .jc-env-head > button.jc-sorted { color: var(--jp-brand-color1); }
.jc-env-table .jc-env-row:hover > button.jc-cell { background: var(--jp-layout-color2); }
.jc-env-table .jc-env-row.jc-selected > button.jc-cell {
  background: color-mix(in srgb, var(--jp-brand-color1) 22%, var(--jp-layout-color1));
  color: var(--jp-ui-font-color0); font-weight: 600; }
.jc-env-table button.jc-cell:focus { outline: none !important; }
.jc-env-table button.jc-cell:focus-visible { outline: 1px solid var(--jp-brand-color1) !important;
  outline-offset: -1px; }
</style>"""


def _cell(text: str, tooltip: str, classes: Iterable[str]) -> W.Button:
    cell = W.Button(description=text, tooltip=tooltip, layout=W.Layout(width="auto", height="auto"))
    for name in ("jc-cell", *classes):
        cell.add_class(name)
    return cell


def _row_tooltip(env: Environment) -> str:
    parts = [f"{env.backend}/{env.id}"]
    if env.description:
        parts.append(env.description)
    return " — ".join(parts) + " (click to choose)"


class EnvironmentTable(W.GridBox):
    """The environments as rows under headings that sort; ``on_choose(env)`` is called on a row's click.

    ``sort_by`` (a column key) and ``descending`` order the rows; :meth:`show` sets which rows, in order.
    """

    sort_by = T.Enum(COLUMN_KEYS, default_value="name", help="the column the rows are sorted by")
    descending = T.Bool(False, help="whether the sort is from the largest value down")

    def __init__(self, on_choose: Callable[[Environment], None], on_sort: Callable[[], None]) -> None:
        columns = "min-content " + " ".join("auto" for _ in ENV_COLUMNS)
        super().__init__(layout=W.Layout(grid_template_columns=columns, width="fit-content", max_width="100%"))
        self.add_class("jc-env-table")
        self._on_choose = on_choose
        self._on_sort = on_sort
        self.rows: dict[Key, W.Box] = {}
        self._chosen: Key | None = None
        self.headings = {c.key: _cell(c.heading, f"sort by {c.heading}", ["jc-num"] if c.numeric else [])
                         for c in ENV_COLUMNS}
        for key, heading in self.headings.items():
            heading.on_click(lambda _, k=key: self.sort_on(k))
        self.head = W.Box([_cell("", "", ["jc-mark"]), *self.headings.values()], layout=W.Layout(display="contents"))
        self.head.add_class("jc-env-head")
        self._label_headings()
        self.observe(lambda _: self._label_headings(), ["sort_by", "descending"])
        self.children = [self.head]

    def sort_on(self, key: str) -> None:
        """What a click on a heading does: sort by it, or reverse the order when it sorts already."""
        if key == self.sort_by:
            self.descending = not self.descending
        else:
            self.sort_by, self.descending = key, False
        self._on_sort()

    def _label_headings(self) -> None:
        for column in ENV_COLUMNS:
            heading = self.headings[column.key]
            sorted_here = column.key == self.sort_by
            arrow = (" ▼" if self.descending else " ▲") if sorted_here else ""
            heading.description = column.heading + arrow
            if sorted_here:
                heading.add_class("jc-sorted")
            else:
                heading.remove_class("jc-sorted")

    def set_environments(self, environments: Iterable[Environment]) -> None:
        """Make the rows (the rows shown are set by :meth:`show`)."""
        old = list(self.rows.values())
        self.rows = {key_of(env): self._row(env) for env in environments}
        self._chosen = None
        self.children = [self.head]
        for row in old:
            close_tree(row)

    def _row(self, env: Environment) -> W.Box:
        tooltip = _row_tooltip(env)
        cells = [_cell("", tooltip, ["jc-mark"])]
        cells += [_cell(c.text(env), tooltip, ["jc-num"] if c.numeric else []) for c in ENV_COLUMNS]
        for cell in cells:
            cell.on_click(lambda _, e=env: self._on_choose(e))
        row = W.Box(cells, layout=W.Layout(display="contents"))
        row.add_class("jc-env-row")
        return row

    def show(self, environments: Iterable[Environment]) -> None:
        """Show the rows of these environments, in this order."""
        self.children = [self.head, *(self.rows[key_of(e)] for e in environments if key_of(e) in self.rows)]

    def mark(self, chosen: Key | None) -> None:
        """Mark the chosen row (only it)."""
        for key in {self._chosen, chosen} - {None}:
            row = self.rows.get(key)  # type: ignore[arg-type]
            if row is None:
                continue
            selected = key == chosen
            if selected:
                row.add_class("jc-selected")
            else:
                row.remove_class("jc-selected")
            row.children[0].description = "✓" if selected else ""
        self._chosen = chosen

    def cells(self, env: Environment) -> list[str]:
        """The texts of an environment's row as shown (for tests and the fallback)."""
        row = self.rows.get(key_of(env))
        return [cell.description for cell in row.children[1:]] if row is not None else []

    def close(self) -> None:
        close_tree(self.head)
        for row in self.rows.values():
            close_tree(row)
        super().close()
