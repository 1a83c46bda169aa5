"""How a cluster looks in the Clusters view: its card (name, status coloured by meaning, the capacity
it has as bars), its nodes as a table, the clusters grouped by backend, and the static text of each.

Pure HTML and text: the widget that holds them (and the choice) is
:class:`~jupyter_compute.widgets.pickers.ClusterPicker`.
"""

from __future__ import annotations

import html
from typing import Any, NamedTuple

from ..models import Cluster
from ._util import fmt_number, html_table
from .cluster_health import health_of, status_html

__all__ = [
    "CLUSTERS_CSS",
    "Capacity",
    "by_backend",
    "capacities",
    "capacity_bar",
    "capacity_text",
    "card_html",
    "cluster_nodes",
    "nodes_table",
]


class Capacity(NamedTuple):
    """One resource of a cluster: what is free now and the total (either may be unknown)."""

    label: str
    free: float | None
    total: float | None
    unit: str


#: The Clusters view's look (theme colours, so light and dark both read).
CLUSTERS_CSS = """<style>
.jc-cluster-group { font-weight: 600; font-size: var(--jp-ui-font-size2); color: var(--jp-ui-font-color1);
  border-bottom: 1px solid var(--jp-border-color2); margin: 10px 0 4px; padding-bottom: 2px; }
.jc-cluster-group .jc-muted { font-weight: 400; }
.jc-cluster-row { border-left: 3px solid transparent; padding: 4px 0 4px 6px; align-items: flex-start; }
.jc-cluster-row.jc-selected { border-left-color: var(--jp-brand-color1); background: var(--jp-layout-color2); }
.jc-cluster-card { color: var(--jp-ui-font-color1); line-height: 1.5; }
.jc-cluster-card .jc-cluster-name { font-weight: 600; }
.jc-capacity { display: grid; grid-template-columns: 64px 160px auto; align-items: center; column-gap: 8px;
  font-variant-numeric: tabular-nums; }
.jc-capacity-label { color: var(--jp-ui-font-color2); }
.jc-meter { height: 10px; border-radius: 3px; overflow: hidden; background: var(--jp-layout-color3); }
.jc-meter > div { height: 100%; background: var(--jp-success-color1); }
.jc-cluster-picker .jc-choose { width: 96px; flex: none; }
</style>"""


def capacities(cluster: Cluster) -> list[Capacity]:
    """The resources the cluster has: none it shows as zero or unknown on both counts."""
    gpu_unit = f"GPU ({cluster.gpu_type})" if cluster.gpu_type else "GPU"
    every = [
        Capacity("CPU", cluster.cpus_allocatable, cluster.cpus, "CPU"),
        Capacity("memory", cluster.memory_gb_allocatable, cluster.memory_gb, "GB memory"),
        Capacity("GPU", cluster.gpus_allocatable, cluster.gpus, gpu_unit),
        Capacity("nodes", cluster.nodes_available, cluster.nodes, "nodes"),
    ]
    return [c for c in every if c.total or c.free]


def _capacity_words(capacity: Capacity, digits: int = 1) -> str:
    free, total, unit = capacity.free, capacity.total, capacity.unit
    if not total:
        return f"{fmt_number(free, digits)} {unit} free"
    if free is None:
        return f"{fmt_number(total, digits)} {unit} (free: unknown)"
    return f"{fmt_number(free, digits)} / {fmt_number(total, digits)} {unit} free"


def capacity_bar(capacity: Capacity) -> str:
    """One capacity line: its label, a bar filled with the free share (when the total is known), the figures."""
    bar = ""
    if capacity.total and capacity.free is not None:
        share = max(0.0, min(1.0, capacity.free / capacity.total))
        bar = f'<div class="jc-meter"><div style="width:{share * 100:.0f}%"></div></div>'
    title = "" if capacity.total else ' title="the platform reports only what is free, not the total"'
    return (
        f'<div class="jc-capacity"{title}><span class="jc-capacity-label">{html.escape(capacity.label)}</span>'
        f"<span>{bar}</span><span>{html.escape(_capacity_words(capacity))}</span></div>"
    )


def capacity_text(cluster: Cluster) -> list[str]:
    """The capacity lines as text (for the static fallback and tests)."""
    return [_capacity_words(c) for c in capacities(cluster)]


def card_html(cluster: Cluster) -> str:
    """The cluster's card: name (its id on hover), status coloured by meaning, capacity bars."""
    name = html.escape(cluster.name or cluster.id)
    head = (
        f'<div><span class="jc-cluster-name" title="{html.escape(f"{cluster.backend}/{cluster.id}")}">{name}</span> '
        f"{status_html(cluster)}</div>"
    )
    bars = "".join(capacity_bar(c) for c in capacities(cluster))
    return f'<div class="jc-cluster-card jc-health-{health_of(cluster)}">{head}{bars}</div>'


def by_backend(clusters: list[Cluster]) -> dict[str, list[Cluster]]:
    """The clusters by backend, backends in the order they first come."""
    groups: dict[str, list[Cluster]] = {}
    for cluster in clusters:
        groups.setdefault(cluster.backend, []).append(cluster)
    return groups


def group_heading(backend: str, count: int) -> str:
    plural = "" if count == 1 else "s"
    return (f'<div class="jc-cluster-group">{html.escape(backend)} '
            f'<span class="jc-muted">{count} cluster{plural}</span></div>')


# --- nodes ---------------------------------------------------------------------------------------


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
    """The nodes as a static table, a column per plain fact."""
    keys: list[str] = []
    for node in nodes:
        keys.extend(k for k, v in node.items() if k not in keys and not isinstance(v, (dict, list)))
    rows = [[_plain(node.get(k)) for k in keys] for node in nodes]
    return html_table(keys, rows, css_class="jc-static jc-nodes")


def nodes_html(cluster: Cluster) -> str:
    """The nodes of a cluster, or a line saying why there are none to show."""
    nodes = cluster_nodes(cluster)
    if nodes:
        return nodes_table(nodes)
    if cluster.nodes:
        return f'<span class="jc-muted">{fmt_number(cluster.nodes)} nodes; the platform does not list them</span>'
    return '<span class="jc-muted">no nodes listed</span>'


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return fmt_number(value, 2)
    return str(value)
