"""Where a job runs: environments as a sortable, filterable table, clusters grouped by backend.

Both pickers expose the choice as a ``value`` trait (the environment's or cluster's id, or
None) that other widgets observe; the SubmitForm binds them to its environment and cluster
fields. They read only through the :class:`~jupyter_compute.client.Client`. The table is in
:mod:`.environments_table`, the clusters' cards in :mod:`.clusters_view`, their colours in
:mod:`.cluster_health`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import traitlets as T

from ..models import Cluster, Environment
from ._util import Raw, close_tree, connect, error_html, fmt_number, html_table, one_line, style_widget
from .cluster_health import health_of, status_html
from .clusters_view import CLUSTERS_CSS, by_backend, capacity_text, card_html, group_heading, nodes_html
from .environments_table import (
    ENV_COLUMNS,
    TABLE_CSS,
    EnvironmentTable,
    filter_environments,
    key_of,
    sort_environments,
)

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["ClusterPicker", "EnvironmentPicker"]

# --- shared helpers (also used by form.py) ---------------------------------------------------


def backends_with(client: Client, capability: str, only: str | None) -> list[str]:
    """Names of the backends offering ``capability`` (or just ``only`` when given)."""
    if only is not None:
        return [only]
    return [b["name"] for b in client.backends() if (b.get("capabilities") or {}).get(capability)]


def fetch_from_backends(
    client: Client, capability: str, only: str | None, fetch: Callable[[str], list[Any]]
) -> tuple[list[Any], list[str]]:
    """What ``fetch(backend)`` gives for every backend offering ``capability``, and one line per failure.

    Raises only when the backend list itself cannot be read.
    """
    found: list[Any] = []
    problems: list[str] = []
    for name in backends_with(client, capability, only):
        try:
            items = fetch(name)
        except Exception as exc:  # noqa: BLE001 — one platform down must not hide the others
            problems.append(f"{name}: {one_line(exc)}")
            continue
        for item in items:
            item.backend = item.backend or name
        found.extend(items)
    return found, problems



def _hidden_style(css: str) -> W.HTML:
    return W.HTML(css, layout=W.Layout(display="none"))


def _same(a: Environment | Cluster, b: Environment | Cluster) -> bool:
    return a.id == b.id and a.backend == b.backend


# --- environments -----------------------------------------------------------------------------


class EnvironmentPicker(W.VBox):
    """The environments of one backend (or of all that have them) as a table to choose from.

    ``value`` is the chosen environment's id (or None); ``environment`` is the object itself.
    Click a heading to sort by it (again to reverse: ``table.sort_by``, ``table.descending``);
    type in ``filter`` to show only the rows holding every word; click a row to choose it.
    """

    value = T.Unicode(None, allow_none=True, help="id of the chosen environment")

    def __init__(self, client: Client | None = None, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-env-picker")
        self.backend = backend
        self._environments: list[Environment] = []
        self._chosen: Environment | None = None
        self.filter = W.Text(placeholder="filter: name, backend, GPU type…", layout=W.Layout(width="260px"))
        self.filter.add_class("jc-env-filter")
        self.refresh_button = W.Button(icon="refresh", tooltip="reload the environments", layout=W.Layout(width="36px"))
        self.refresh_button.add_class("jc-refresh")
        self.table = EnvironmentTable(on_choose=self._on_row, on_sort=self._show_rows)
        self.details = W.HTML()
        self.details.add_class("jc-env-details")
        self.message = W.HTML()
        self.message.add_class("jc-error")
        self.children = [
            style_widget(),
            _hidden_style(TABLE_CSS),
            W.HBox([self.filter, self.refresh_button]),
            self.table,
            self.details,
            self.message,
        ]
        self.filter.observe(lambda _: self._show_rows(), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.client: Client | None = None
        try:
            self.client = connect(client)
        except Exception as exc:  # noqa: BLE001 — shown in the widget, never as a traceback
            self._error(one_line(exc))
            return
        self.refresh()

    # --- public -----------------------------------------------------------------------------

    @property
    def environment(self) -> Environment | None:
        """The chosen environment, or None."""
        return self._chosen

    @property
    def environments(self) -> list[Environment]:
        """Every environment fetched (setting it shows those instead)."""
        return self._environments

    @environments.setter
    def environments(self, environments: list[Environment]) -> None:
        self._environments = list(environments)
        if self._chosen is not None:
            self._chosen = next((e for e in self._environments if _same(e, self._chosen)), self._chosen)
        elif self.value is not None:
            self._chosen = self._find(self.value)
        self.table.set_environments(self._environments)
        self._show_rows()

    def refresh(self) -> None:
        """Fetch the environments again (keeping the choice when it is still offered)."""
        if self.client is None:
            return
        self._error("")
        try:
            found, problems = fetch_from_backends(
                self.client, "has_environments", self.backend, self.client.environments
            )
        except Exception as exc:  # noqa: BLE001
            self._error(one_line(exc))
            return
        self.environments = found
        if problems:
            self._error("; ".join(problems))

    @property
    def shown(self) -> list[Environment]:
        """The environments in the table now: filtered and sorted."""
        envs = filter_environments(self.environments, self.filter.value)
        return sort_environments(envs, self.table.sort_by, self.table.descending)

    def choose(self, environment_id: str | None, backend: str | None = None) -> None:
        """Choose an environment by id (and backend, when several have the same id).

        An id that is not listed is kept as ``value`` (``environment`` is None until a refresh
        lists it), as :meth:`ClusterPicker.choose` does: a form field bound to the picker keeps
        what was typed into it.
        """
        self._chosen = self._find(environment_id, backend) if environment_id else None
        self.value = environment_id or None
        self._show_choice()

    # --- internals ----------------------------------------------------------------------------

    def _find(self, environment_id: str | None, backend: str | None = None) -> Environment | None:
        matches = [e for e in self.environments if e.id == environment_id]
        if backend is not None:
            matches = [e for e in matches if e.backend == backend] or matches
        return matches[0] if matches else None

    @T.observe("value")
    def _on_value(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            self._chosen = None
        elif self._chosen is None or self._chosen.id != change["new"]:
            self._chosen = self._find(change["new"])
        self._show_choice()

    def _on_row(self, env: Environment) -> None:
        self._chosen = env
        self.value = env.id
        self._show_choice()

    def _show_rows(self) -> None:
        self.table.show(self.shown)
        self._show_choice()

    def _show_choice(self) -> None:
        self.table.mark(key_of(self._chosen) if self._chosen is not None else None)
        self.details.value = self._details_html()

    def _details_html(self) -> str:
        env = self._chosen
        if env is None and self.value:
            return (f'chosen: <b>{html.escape(self.value)}</b> <span class="jc-muted">(not among the environments '
                    "listed)</span>")
        if env is None:
            if not self.environments and self.client is not None:
                where = f"backend '{self.backend}'" if self.backend else "any backend"
                return f'<span class="jc-muted">no environments on {html.escape(where)}</span>'
            return (f'<span class="jc-muted">{len(self.shown)} of {len(self.environments)} environments shown; '
                    "click a row to choose it, a heading to sort by it</span>")
        limit = f", at most {fmt_number(env.max_duration_s, 0)} s a job" if env.max_duration_s else ""
        text = f"chosen: <b>{html.escape(env.name or env.id)}</b> ({html.escape(env.backend)}/{html.escape(env.id)})"
        if env.description:
            text += f" — {html.escape(env.description)}"
        return text + html.escape(limit)

    def _error(self, message: str) -> None:
        self.message.value = error_html(message)

    def close(self) -> None:
        for child in self.children:
            close_tree(child)
        super().close()

    # --- static fallbacks -------------------------------------------------------------------

    def _repr_html_(self) -> str:
        chosen = self._chosen
        rows = [["✓" if chosen is not None and _same(e, chosen) else ""] + [c.text(e) for c in ENV_COLUMNS]
                for e in self.shown]
        table = html_table(["", *(c.heading for c in ENV_COLUMNS)], rows)
        return f'<div class="jc-env-picker"><b>Environments</b>{table}{self.message.value}</div>'

    def __repr__(self) -> str:
        where = self.backend or "all backends"
        chosen = f", chosen {self.value!r}" if self.value else ""
        return f"<EnvironmentPicker {where}: {len(self.environments)} environments{chosen}>"


# --- clusters ---------------------------------------------------------------------------------


class ClusterPicker(W.VBox):
    """The clusters of one backend (or of all that have them), grouped by backend, with their status
    coloured by what it means and the capacity each has as bars.

    ``value`` is the chosen cluster's id (or None); ``cluster`` is the object itself. ``clusters``
    is the list shown, a trait: ``picker.observe(callback, "clusters")`` hears every change a refresh
    brings (setting it shows those clusters instead).
    """

    value = T.Unicode(None, allow_none=True, help="id of the chosen cluster")
    clusters = T.List(T.Instance(Cluster), help="the clusters shown, as last fetched")

    def __init__(self, client: Client | None = None, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-cluster-picker")
        self.backend = backend
        self._chosen: Cluster | None = None
        self._buttons: list[tuple[Cluster, W.ToggleButton]] = []
        self._row_of: dict[int, W.Box] = {}  # id(choose button) → its row
        self._syncing = False
        self.refresh_button = W.Button(icon="refresh", tooltip="reload the clusters", layout=W.Layout(width="36px"))
        self.refresh_button.add_class("jc-refresh")
        self.nodes_toggle = W.ToggleButton(value=False, description="Nodes", icon="server",
                                           tooltip="show the nodes of each cluster", layout=W.Layout(width="90px"))
        self.nodes_toggle.add_class("jc-nodes-toggle")
        self.rows = W.VBox()
        self.rows.add_class("jc-cluster-rows")
        self.message = W.HTML()
        self.message.add_class("jc-error")
        self.children = [style_widget(), _hidden_style(CLUSTERS_CSS), W.HBox([self.refresh_button, self.nodes_toggle]),
                         self.rows, self.message]
        self.refresh_button.on_click(lambda _: self.refresh())
        self.nodes_toggle.observe(lambda _: self._render(), "value")
        self.client: Client | None = None
        try:
            self.client = connect(client)
        except Exception as exc:  # noqa: BLE001
            self._error(one_line(exc))
            return
        self.refresh()

    @property
    def cluster(self) -> Cluster | None:
        """The chosen cluster, or None."""
        return self._chosen

    def refresh(self) -> None:
        """Fetch the clusters again (keeping the choice when it is still offered)."""
        if self.client is None:
            return
        self._error("")
        try:
            found, problems = fetch_from_backends(self.client, "has_clusters", self.backend, self.client.clusters)
        except Exception as exc:  # noqa: BLE001
            self._error(one_line(exc))
            return
        self.clusters = found
        if not self.rows.children:  # the first fetch found none: no change to hear, but say so
            self._render()
        if problems:
            self._error("; ".join(problems))

    def choose(self, cluster_id: str | None) -> None:
        """Choose a cluster by id (None: no choice)."""
        self.value = cluster_id

    @T.observe("clusters")
    def _on_clusters(self, change: dict[str, Any]) -> None:
        chosen = self._chosen
        same = [c for c in self.clusters if chosen is not None and _same(c, chosen)]
        self._chosen = (same or [c for c in self.clusters if c.id == self.value] or [None])[0] if self.value else None
        self._render()

    @T.observe("value")
    def _on_value(self, change: dict[str, Any]) -> None:
        if self._chosen is None or self._chosen.id != change["new"]:
            self._chosen = next((c for c in self.clusters if c.id == change["new"]), None)
        self._sync_buttons()

    def _on_toggle(self, cluster: Cluster, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        if change["new"]:
            self._chosen = cluster
            self.value = cluster.id
        elif self._chosen is not None and _same(self._chosen, cluster):
            self._chosen = None
            self.value = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        """Mark the chosen cluster, and only it."""
        self._syncing = True
        try:
            for cluster, button in self._buttons:
                chosen = self._chosen is not None and _same(cluster, self._chosen)
                button.value = chosen
                button.description = "chosen" if chosen else "choose"
                button.icon = "check" if chosen else ""
                button.button_style = "info" if chosen else ""
                button.tooltip = (f"chosen: {cluster.id} (click again to unchoose)" if chosen
                                  else f"choose {cluster.name or cluster.id} ({cluster.id})")
                row = self._row_of.get(id(button))
                if row is not None:
                    (row.add_class if chosen else row.remove_class)("jc-selected")
        finally:
            self._syncing = False

    def _render(self) -> None:
        old_rows = self.rows.children
        self._buttons = []
        self._row_of = {}
        rows: list[W.Widget] = []
        for backend, clusters in by_backend(list(self.clusters)).items():
            heading = W.HTML(group_heading(backend, len(clusters)))
            heading.add_class("jc-cluster-heading")
            rows.append(heading)
            rows.extend(self._cluster_row(cluster) for cluster in clusters)
        if not self.clusters:
            where = f"backend '{self.backend}'" if self.backend else "any backend"
            rows.append(W.HTML(f'<span class="jc-muted">no clusters on {html.escape(where)}</span>'))
        self.rows.children = rows
        self._sync_buttons()
        for row in old_rows:
            close_tree(row)

    def _cluster_row(self, cluster: Cluster) -> W.Widget:
        button = W.ToggleButton(description="choose", layout=W.Layout(width="96px"))
        button.add_class("jc-cluster-option")
        button.add_class("jc-choose")
        button.observe(lambda change, c=cluster: self._on_toggle(c, change), "value")
        card = W.HTML(card_html(cluster))
        card.add_class("jc-cluster-card")
        card.add_class(f"jc-health-{health_of(cluster)}")
        parts: list[W.Widget] = [card]
        if self.nodes_toggle.value:
            box = W.HTML(nodes_html(cluster))
            box.add_class("jc-cluster-nodes")
            parts.append(box)
        row = W.HBox([button, W.VBox(parts)])
        row.add_class("jc-cluster-row")
        self._buttons.append((cluster, button))
        self._row_of[id(button)] = row
        return row

    def _error(self, message: str) -> None:
        self.message.value = error_html(message)

    def close(self) -> None:
        for child in self.children:
            close_tree(child)
        super().close()

    def _repr_html_(self) -> str:
        rows = [
            ["✓" if self._chosen is not None and _same(c, self._chosen) else "", c.name or c.id, c.backend,
             Raw(f"{status_html(c)} ({html.escape(health_of(c))})"), "; ".join(capacity_text(c))]
            for c in self.clusters
        ]
        table = html_table(["", "name", "backend", "status", "capacity"], rows)
        return f'<div class="jc-cluster-picker"><b>Clusters</b>{table}{self.message.value}</div>'

    def __repr__(self) -> str:
        where = self.backend or "all backends"
        chosen = f", chosen {self.value!r}" if self.value else ""
        return f"<ClusterPicker {where}: {len(self.clusters)} clusters{chosen}>"
