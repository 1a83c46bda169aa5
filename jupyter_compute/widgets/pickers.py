"""Where a job runs: environments as a sortable, filterable table, clusters with capacity bars.

Both pickers expose the choice as a ``value`` trait (the environment's or cluster's id, or
None) that other widgets observe; the SubmitForm binds them to its environment and cluster
fields. They read only through the :class:`~jupyter_compute.client.Client`; the helpers they
share with the other panels (CSS, ``connect``, ``fmt_number``) are in :mod:`._util`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import traitlets as T

from ..models import Cluster, Environment
from ._util import (
    GREEN,
    MUTED,
    close_tree,
    connect,
    error_html,
    fmt_number,
    html_table,
    one_line,
    style_widget,
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


# --- environments -----------------------------------------------------------------------------


def _gpus(env: Environment) -> str:
    if not env.gpus:
        return "—" if env.gpus is None else "0"
    return f"{env.gpus} × {env.gpu_type}" if env.gpu_type else str(env.gpus)


def _jobs(env: Environment) -> str:
    if env.running_jobs is None and env.max_jobs is None:
        return "—"
    running = "?" if env.running_jobs is None else str(env.running_jobs)
    return f"{running}/{'∞' if env.max_jobs is None else env.max_jobs}"


def _load(env: Environment) -> float | None:
    if env.running_jobs is None or not env.max_jobs:
        return None
    return env.running_jobs / env.max_jobs


#: key, heading, width, cell text, sort key (None sorts last), right-aligned
ENV_COLUMNS: tuple[tuple[str, str, int, Callable[[Environment], str], Callable[[Environment], Any], bool], ...] = (
    ("backend", "backend", 10, lambda e: e.backend, lambda e: e.backend.lower(), False),
    ("name", "name", 22, lambda e: e.name or e.id, lambda e: (e.name or e.id).lower(), False),
    ("cpus", "CPUs", 6, lambda e: fmt_number(e.cpus), lambda e: e.cpus, True),
    ("gpus", "GPUs", 12, _gpus, lambda e: e.gpus, True),
    ("memory_gb", "mem GB", 8, lambda e: fmt_number(e.memory_gb), lambda e: e.memory_gb, True),
    ("disk_gb", "disk GB", 8, lambda e: fmt_number(e.disk_gb, 0), lambda e: e.disk_gb, True),
    ("price", "price", 8, lambda e: fmt_number(e.price, 2), lambda e: e.price, True),
    ("jobs", "jobs", 7, _jobs, _load, True),
)
SORT_OPTIONS = [(heading, key) for key, heading, *_ in ENV_COLUMNS]


def _cell(text: str, width: int, right: bool) -> str:
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def env_label(env: Environment) -> str:
    """One fixed-width row of the table (spaces made non-breaking so the columns stay aligned)."""
    line = " ".join(_cell(text(env), width, right) for _, _, width, text, _, right in ENV_COLUMNS)
    return line.replace(" ", "\u00a0")


def env_header() -> str:
    return " ".join(_cell(heading, width, right) for _, heading, width, _, _, right in ENV_COLUMNS)


def sort_environments(envs: Iterable[Environment], key: str, descending: bool = False) -> list[Environment]:
    """Sorted by the column ``key``; unknown values last whichever the direction."""
    get = next(column[4] for column in ENV_COLUMNS if column[0] == key)
    known = [e for e in envs if get(e) is not None]
    unknown = [e for e in envs if get(e) is None]
    return sorted(known, key=get, reverse=descending) + unknown


def filter_environments(envs: Iterable[Environment], text: str) -> list[Environment]:
    """Those whose backend, id, name, description or GPU type contain every word of ``text``."""
    words = text.lower().split()

    def haystack(env: Environment) -> str:
        return " ".join(str(v) for v in (env.backend, env.id, env.name, env.description, env.gpu_type) if v).lower()

    return [e for e in envs if all(w in haystack(e) for w in words)]


class EnvironmentPicker(W.VBox):
    """The environments of one backend (or of all that have them) as a table to choose from.

    ``value`` is the chosen environment's id (or None); ``environment`` is the object itself.
    """

    value = T.Unicode(None, allow_none=True, help="id of the chosen environment")

    def __init__(self, client: Client | None = None, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-env-picker")
        self.backend = backend
        self._environments: list[Environment] = []
        self._chosen: Environment | None = None
        self._rendering = False
        self.filter = W.Text(placeholder="filter: name, backend, GPU type…", layout=W.Layout(width="240px"))
        self.filter.add_class("jc-env-filter")
        self.sort = W.Dropdown(options=SORT_OPTIONS, value="name", description="sort by",
                               layout=W.Layout(width="190px"), style={"description_width": "50px"})
        self.sort.add_class("jc-env-sort")
        self.descending = W.ToggleButton(value=False, icon="arrow-up", tooltip="ascending / descending",
                                         layout=W.Layout(width="36px"))
        self.descending.add_class("jc-env-desc")
        self.refresh_button = W.Button(icon="refresh", tooltip="reload the environments", layout=W.Layout(width="36px"))
        self.refresh_button.add_class("jc-refresh")
        self.header = W.HTML()
        self.header.add_class("jc-env-header")
        self.select = W.Select(options=[], rows=5, layout=W.Layout(width="100%"))
        self.select.add_class("jc-env-select")
        self.details = W.HTML()
        self.details.add_class("jc-env-details")
        self.message = W.HTML()
        self.message.add_class("jc-error")
        self.children = [
            style_widget(),
            W.HBox([self.filter, self.sort, self.descending, self.refresh_button]),
            self.header,
            self.select,
            self.details,
            self.message,
        ]
        self.filter.observe(lambda _: self._render(), "value")
        self.sort.observe(lambda _: self._render(), "value")
        self.descending.observe(self._on_direction, "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.select.observe(self._on_select, "value")
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
        self._render()

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
        elif not found:
            where = f"backend '{self.backend}'" if self.backend else "any backend"
            self.details.value = f'<span class="jc-muted">no environments on {html.escape(where)}</span>'

    @property
    def shown(self) -> list[Environment]:
        """The environments in the table now: filtered and sorted."""
        envs = filter_environments(self.environments, self.filter.value)
        return sort_environments(envs, self.sort.value, self.descending.value)

    def choose(self, environment_id: str | None, backend: str | None = None) -> None:
        """Choose an environment by id (and backend, when several have the same id).

        An id that is not listed is kept as ``value`` (``environment`` is None until a refresh
        lists it), as :meth:`ClusterPicker.choose` does: a form field bound to the picker keeps
        what was typed into it.
        """
        self._chosen = self._find(environment_id, backend) if environment_id else None
        self.value = environment_id or None
        self._render()

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
        self._sync_select()
        self._show_details()

    def _on_direction(self, change: dict[str, Any]) -> None:
        self.descending.icon = "arrow-down" if change["new"] else "arrow-up"
        self._render()

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._rendering or change["new"] is None:
            return
        backend, env_id = change["new"]
        self._chosen = self._find(env_id, backend)
        self.value = env_id
        self._show_details()

    def _render(self) -> None:
        self._rendering = True
        try:
            shown = self.shown
            self.header.value = html.escape(env_header()).replace(" ", "&nbsp;")
            self.select.options = [(env_label(e), (e.backend, e.id)) for e in shown]
            self.select.rows = max(2, min(8, len(shown)))
        finally:
            self._rendering = False
        self._sync_select()
        self._show_details()

    def _sync_select(self) -> None:
        """Highlight the chosen row (none when it is filtered out)."""
        chosen = self._chosen
        keys = [value for _, value in self.select.options]
        key = (chosen.backend, chosen.id) if chosen is not None else None
        if self.select.value != (key if key in keys else None):
            self._rendering = True
            try:
                self.select.value = key if key in keys else None
            finally:
                self._rendering = False

    def _show_details(self) -> None:
        env = self._chosen
        if env is None and self.value:
            self.details.value = (
                f'chosen: <b>{html.escape(self.value)}</b> <span class="jc-muted">(not among the environments '
                "listed)</span>"
            )
            return
        if env is None:
            count = len(self.shown)
            self.details.value = (
                f'<span class="jc-muted">{count} of {len(self.environments)} environments shown; '
                "click one to choose it</span>"
            )
            return
        limit = f", at most {fmt_number(env.max_duration_s, 0)} s a job" if env.max_duration_s else ""
        text = f"chosen: <b>{html.escape(env.name or env.id)}</b> ({html.escape(env.backend)}/{html.escape(env.id)})"
        if env.description:
            text += f" — {html.escape(env.description)}"
        self.details.value = text + html.escape(limit)

    def _error(self, message: str) -> None:
        self.message.value = error_html(message)

    def close(self) -> None:
        for child in self.children:
            close_tree(child)
        super().close()

    # --- static fallbacks -------------------------------------------------------------------

    def _repr_html_(self) -> str:
        rows = [
            [("✔ " if self._chosen is not None and _same(e, self._chosen) else "") + text(e)
             if key == "backend" else text(e)
             for key, _, _, text, _, _ in ENV_COLUMNS]
            for e in self.shown
        ]
        table = html_table([heading for _, heading, *_ in ENV_COLUMNS], rows)
        return f'<div class="jc-env-picker"><b>Environments</b>{table}{self.message.value}</div>'

    def __repr__(self) -> str:
        where = self.backend or "all backends"
        chosen = f", chosen {self.value!r}" if self.value else ""
        return f"<EnvironmentPicker {where}: {len(self.environments)} environments{chosen}>"


def _same(a: Environment | Cluster, b: Environment | Cluster) -> bool:
    return a.id == b.id and a.backend == b.backend


# --- clusters ---------------------------------------------------------------------------------


def capacity_bar(label: str, free: float | None, total: float | None, unit: str, digits: int = 1) -> str:
    """One capacity line: a bar filled with the free share and ``3.5 / 8 CPU free``."""
    if total is None:
        return ""
    if free is None:
        text = f"{fmt_number(total, digits)} {unit} (free: unknown)"
        share = 0.0
    else:
        text = f"{fmt_number(free, digits)} / {fmt_number(total, digits)} {unit} free"
        share = 0.0 if total <= 0 else max(0.0, min(1.0, free / total))
    return (
        f'<div class="jc-capacity"><span style="display:inline-block;width:60px">{html.escape(label)}</span>'
        f'<span class="jc-bar" style="display:inline-block;width:160px;height:10px;background:#e0e0e0;'
        f'border-radius:3px;vertical-align:middle;overflow:hidden">'
        f'<div style="width:{share * 100:.0f}%;height:100%;background:{GREEN}"></div></span> '
        f"{html.escape(text)}</div>"
    )


def capacity_text(cluster: Cluster) -> list[str]:
    """The capacity lines as text (for the static fallback and tests)."""
    lines = []
    for _label, free, total, unit in _capacities(cluster):
        if total is None:
            continue
        if free is None:
            lines.append(f"{fmt_number(total)} {unit} (free: unknown)")
        else:
            lines.append(f"{fmt_number(free)} / {fmt_number(total)} {unit} free")
    return lines


def _capacities(cluster: Cluster) -> list[tuple[str, float | None, float | None, str]]:
    gpu_unit = f"GPU ({cluster.gpu_type})" if cluster.gpu_type else "GPU"
    return [
        ("CPU", cluster.cpus_allocatable, cluster.cpus, "CPU"),
        ("memory", cluster.memory_gb_allocatable, cluster.memory_gb, "GB memory"),
        ("GPU", cluster.gpus_allocatable, cluster.gpus, gpu_unit),
        ("nodes", cluster.nodes_available, cluster.nodes, "nodes"),
    ]


def cluster_nodes(cluster: Cluster) -> list[dict[str, Any]]:
    """The cluster's nodes from its raw data; a one-node cluster without a list is its own node."""
    nodes = cluster.raw.get("nodes") if isinstance(cluster.raw, dict) else None
    if isinstance(nodes, list) and nodes:
        return [n if isinstance(n, dict) else {"name": str(n)} for n in nodes]
    return [_only_node(cluster)] if cluster.nodes == 1 else []


def _only_node(cluster: Cluster) -> dict[str, Any]:
    """The one node of a one-node cluster, from the cluster's own figures."""
    raw = cluster.raw or {}
    node: dict[str, Any] = {
        "name": raw.get("hostname") or cluster.name or cluster.id,
        "status": cluster.status,
        "CPUs": f"{fmt_number(cluster.cpus_allocatable)} / {fmt_number(cluster.cpus)} free",
        "memory GB": f"{fmt_number(cluster.memory_gb_allocatable)} / {fmt_number(cluster.memory_gb)} free",
    }
    if cluster.gpus:
        node["GPUs"] = f"{fmt_number(cluster.gpus_allocatable)} / {cluster.gpus} free"
    for key in ("platform", "load_average"):
        if raw.get(key) is not None:
            node[key.replace("_", " ")] = _node_figure(raw[key])
    return node


def _node_figure(value: Any) -> Any:
    """A figure of a node as shown: a list of numbers (load averages) as one line."""
    return " ".join(fmt_number(v, 2) for v in value) if isinstance(value, (list, tuple)) else value


def nodes_table(nodes: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for node in nodes:
        keys.extend(k for k, v in node.items() if k not in keys and not isinstance(v, (dict, list)))
    rows = [[_plain(node.get(k)) for k in keys] for node in nodes]
    return html_table(keys, rows, css_class="jc-static jc-nodes")


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return fmt_number(value, 2)
    return str(value)


class ClusterPicker(W.VBox):
    """The clusters of one backend (or of all that have them) with their free capacity as bars.

    ``value`` is the chosen cluster's id (or None); ``cluster`` is the object itself.
    """

    value = T.Unicode(None, allow_none=True, help="id of the chosen cluster")

    def __init__(self, client: Client | None = None, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-cluster-picker")
        self.backend = backend
        self.clusters: list[Cluster] = []
        self._chosen: Cluster | None = None
        self._buttons: list[tuple[Cluster, W.ToggleButton]] = []
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
        self.children = [style_widget(), W.HBox([self.refresh_button, self.nodes_toggle]), self.rows, self.message]
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
        key = self._chosen.id if self._chosen else self.value
        self._chosen = next((c for c in found if c.id == key), None) if key else None
        self._render()
        if problems:
            self._error("; ".join(problems))

    def choose(self, cluster_id: str | None) -> None:
        """Choose a cluster by id (None: no choice)."""
        self.value = cluster_id

    @T.observe("value")
    def _on_value(self, change: dict[str, Any]) -> None:
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
        self._syncing = True
        try:
            for cluster, button in self._buttons:
                button.value = self._chosen is not None and _same(cluster, self._chosen)
                button.button_style = "info" if button.value else ""
        finally:
            self._syncing = False

    def _render(self) -> None:
        old_rows = self.rows.children
        rows = []
        self._buttons = []
        for cluster in self.clusters:
            button = W.ToggleButton(description=(cluster.name or cluster.id)[:24], tooltip=f"choose {cluster.id}",
                                    icon="check", layout=W.Layout(width="200px"))
            button.add_class("jc-cluster-option")
            button.observe(lambda change, c=cluster: self._on_toggle(c, change), "value")
            self._buttons.append((cluster, button))
            card = W.HTML(self._card_html(cluster))
            card.add_class("jc-cluster-card")
            parts: list[W.Widget] = [W.HBox([button, card])]
            if self.nodes_toggle.value:
                nodes = cluster_nodes(cluster)
                text = nodes_table(nodes) if nodes else (
                    f'<span class="jc-muted">{fmt_number(cluster.nodes)} nodes; the platform does not list them</span>'
                    if cluster.nodes else '<span class="jc-muted">no nodes listed</span>'
                )
                box = W.HTML(text, layout=W.Layout(margin="0 0 0 210px"))
                box.add_class("jc-cluster-nodes")
                parts.append(box)
            rows.append(W.VBox(parts))
        if not self.clusters:
            where = f"backend '{self.backend}'" if self.backend else "any backend"
            rows.append(W.HTML(f'<span class="jc-muted">no clusters on {html.escape(where)}</span>'))
        self.rows.children = rows
        self._sync_buttons()
        for row in old_rows:
            close_tree(row)

    def _card_html(self, cluster: Cluster) -> str:
        status = html.escape(cluster.status or "unknown")
        colour = GREEN if (cluster.status or "").lower() in ("running", "available", "ready", "active") else MUTED
        head = (
            f"<b>{html.escape(cluster.name or cluster.id)}</b> "
            f'<span class="jc-muted">{html.escape(cluster.backend)}/{html.escape(cluster.id)}</span> '
            f'<span class="jc-cluster-status" style="color:{colour}">● {status}</span>'
        )
        bars = "".join(capacity_bar(label, free, total, unit) for label, free, total, unit in _capacities(cluster))
        return f"<div>{head}{bars}</div>"

    def _error(self, message: str) -> None:
        self.message.value = error_html(message)

    def close(self) -> None:
        for child in self.children:
            close_tree(child)
        super().close()

    def _repr_html_(self) -> str:
        rows = [
            [("✔ " if self._chosen is not None and _same(c, self._chosen) else "") + (c.name or c.id),
             c.backend, c.status or "—", "; ".join(capacity_text(c))]
            for c in self.clusters
        ]
        table = html_table(["name", "backend", "status", "capacity"], rows)
        return f'<div class="jc-cluster-picker"><b>Clusters</b>{table}{self.message.value}</div>'

    def __repr__(self) -> str:
        where = self.backend or "all backends"
        chosen = f", chosen {self.value!r}" if self.value else ""
        return f"<ClusterPicker {where}: {len(self.clusters)} clusters{chosen}>"
