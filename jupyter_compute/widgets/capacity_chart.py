"""Cluster capacity as stacked bars: for each cluster, used and free per resource it has.

``CapacityChart(clusters)`` draws one horizontal bar per (cluster, resource) with bqplot: the used share,
then the free share, of CPU, memory, GPU and nodes; a resource the cluster lacks (no total, or a total of
0) is left out, and a free amount the platform does not tell is drawn as "unknown". ``set_clusters`` redraws
in place (the bars' data arrays change; the marks stay), as the cluster list refreshes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..models import Cluster
from ._util import fmt_number, html_table, Raw, text_table
from .timeline import CSS

__all__ = ["CapacityChart", "CapacityRow", "capacity_rows"]

USED_COLOUR = "#ef6c00"
FREE_COLOUR = "#2e7d32"
UNKNOWN_COLOUR = "#9e9e9e"
_BAR_PX = 26
_MARGIN = {"top": 6, "bottom": 34, "right": 20}


@dataclass(frozen=True)
class CapacityRow:
    """One bar: a resource of a cluster (``free`` None when the platform does not tell)."""

    cluster_id: str
    cluster: str
    backend: str
    resource: str
    unit: str
    total: float
    free: float | None

    @property
    def used(self) -> float | None:
        return None if self.free is None else max(0.0, self.total - self.free)

    @property
    def label(self) -> str:
        return f"{self.cluster} · {self.resource}"

    @property
    def text(self) -> str:
        """``3 used · 5 free of 8 CPU``."""
        total = f"{fmt_number(self.total)} {self.unit}"
        if self.free is None:
            return f"{total} (free: unknown)"
        return f"{fmt_number(self.used)} used · {fmt_number(self.free)} free of {total}"

    def shares(self) -> tuple[float, float, float]:
        """Used, free and unknown, in percent of the total."""
        if self.free is None:
            return 0.0, 0.0, 100.0
        free = max(0.0, min(100.0, 100.0 * self.free / self.total))
        return 100.0 - free, free, 0.0


def capacity_rows(clusters: Iterable[Cluster]) -> list[CapacityRow]:
    """The bars of ``clusters``, grouped by backend; only the resources each cluster has."""
    rows = []
    for cluster in sorted(clusters, key=lambda c: c.backend):
        gpu_unit = f"GPU ({cluster.gpu_type})" if cluster.gpu_type else "GPU"
        for resource, unit, total, free in (
            ("CPU", "CPU", cluster.cpus, cluster.cpus_allocatable),
            ("memory", "GB", cluster.memory_gb, cluster.memory_gb_allocatable),
            ("GPU", gpu_unit, cluster.gpus, cluster.gpus_allocatable),
            ("nodes", "nodes", cluster.nodes, cluster.nodes_available),
        ):
            if total is None or total <= 0:
                continue
            rows.append(CapacityRow(cluster.id, cluster.name or cluster.id, cluster.backend, resource, unit,
                                    float(total), None if free is None else float(free)))
    return rows


class CapacityChart(W.VBox):
    """Used / free per resource per cluster, as stacked horizontal bars (see the module doc)."""

    def __init__(self, clusters: Iterable[Cluster] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("jc-capacity-chart")
        self.rows: list[CapacityRow] = []
        self.x_scale = bq.OrdinalScale()
        self.y_scale = bq.LinearScale(min=0.0, max=100.0)
        self.bars = bq.Bars(
            x=np.array(["-"]), y=np.zeros((3, 1)), scales={"x": self.x_scale, "y": self.y_scale},
            orientation="horizontal", type="stacked", colors=[USED_COLOUR, FREE_COLOUR, UNKNOWN_COLOUR],
            opacities=[1.0, 0.85, 0.5], padding=0.3, stroke_width=0.0,
            labels=["used", "free", "unknown"],
        )
        self.category_axis = bq.Axis(scale=self.x_scale, orientation="vertical", grid_lines="none")
        self.value_axis = bq.Axis(scale=self.y_scale, label="% of the cluster's total", grid_lines="none",
                                  tick_format=".0f", num_ticks=5)
        self.figure = bq.Figure(
            marks=[self.bars], axes=[self.category_axis, self.value_axis], animation_duration=0, padding_y=0.0,
            fig_margin={"left": 120, **_MARGIN}, background_style={"fill": "none"},
            layout=W.Layout(width="100%", height="120px"),
        )
        self.figure.add_class("jc-capacity-figure")
        self.legend = W.HTML(_legend_html())
        self.empty = W.HTML('<span class="jc-muted">no cluster capacity to show</span>')
        self.children = [W.HTML(CSS, layout=W.Layout(display="none")), self.legend, self.figure, self.empty]
        self.set_clusters(clusters)

    def set_clusters(self, clusters: Iterable[Cluster]) -> None:
        """Show these clusters (the bars' data change in place)."""
        rows = capacity_rows(clusters)
        self.rows = rows
        shown = rows or [CapacityRow("", "", "", "", "", 1.0, 0.0)]
        shares = np.array([row.shares() for row in shown]).T
        labels = [f"{row.label}: {row.text}" if row.resource else "" for row in shown]
        longest = max(len(label) for label in labels)
        with self.bars.hold_sync():
            self.bars.x = np.array(labels)
            self.bars.y = shares
        self.figure.fig_margin = {"left": int(min(420, max(90, 6.6 * longest + 12))), **_MARGIN}
        self.figure.layout.height = f"{len(shown) * _BAR_PX + _MARGIN['top'] + _MARGIN['bottom'] + 10}px"
        self.figure.layout.display = None if rows else "none"
        self.legend.layout.display = None if rows else "none"
        self.empty.layout.display = "none" if rows else None

    def close(self) -> None:
        for widget in (self.bars, self.category_axis, self.value_axis, self.x_scale, self.y_scale, self.figure,
                       *self.children):
            widget.close()
        super().close()

    def _repr_html_(self) -> str:
        if not self.rows:
            return '<div class="jc-capacity-chart"><b>Capacity</b> <span class="jc-muted">no clusters</span></div>'
        table = html_table(["cluster", "backend", "resource", "", "capacity"],
                           [(r.cluster, r.backend, r.resource, Raw(_bar_html(r)), r.text) for r in self.rows],
                           css_class="jc-static jc-capacity-static")
        return f'<div class="jc-capacity-chart"><b>Capacity</b>{table}</div>'

    def __repr__(self) -> str:
        clusters = len({(r.backend, r.cluster_id) for r in self.rows})
        head = f"<CapacityChart: {clusters} clusters, {len(self.rows)} bars>"
        if not self.rows:
            return head
        return head + "\n" + text_table(("cluster", "backend", "resource", "capacity"),
                                        [(r.cluster, r.backend, r.resource, r.text) for r in self.rows])


def _bar_html(row: CapacityRow) -> str:
    used, free, unknown = row.shares()
    return (
        '<span class="jc-capacity-bar" style="display:inline-flex;width:160px;height:10px;border-radius:3px;'
        'overflow:hidden;vertical-align:middle;border:1px solid var(--jp-border-color2,#bbb)">'
        f'<span class="jc-used" style="width:{used:.1f}%;background:{USED_COLOUR}"></span>'
        f'<span class="jc-free" style="width:{free:.1f}%;background:{FREE_COLOUR};opacity:.85"></span>'
        f'<span class="jc-unknown" style="width:{unknown:.1f}%;background:{UNKNOWN_COLOUR};opacity:.5"></span>'
        "</span>"
    )


def _legend_html() -> str:
    swatch = '<span style="display:inline-block;width:14px;height:8px;border-radius:2px;margin:0 4px 0 10px;' \
             'vertical-align:middle;background:{}"></span>{}'
    items = "".join(swatch.format(colour, html.escape(name)) for colour, name in
                    ((USED_COLOUR, "used"), (FREE_COLOUR, "free"), (UNKNOWN_COLOUR, "unknown")))
    return f'<span class="jc-tl-legend" style="color:var(--jp-ui-font-color1)"><b>Capacity</b>{items}</span>'
