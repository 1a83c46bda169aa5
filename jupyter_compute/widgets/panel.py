"""The compute panel: Submit, Environments, Clusters and Jobs in tabs, sharing one client.

Choosing an environment or a cluster in its tab fills the submit form (and switches its
backend when needed); submitting switches to the Jobs tab, where the job shows up live. The Jobs
tab holds the job monitor above a collapsible job timeline; the Clusters tab the cluster picker
above the capacity chart, which follows the picker's cluster list.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ._util import close_tree, connect, error_html, one_line, style_widget
from .form import SubmitForm
from .pickers import ClusterPicker, EnvironmentPicker

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["ComputePanel"]

TITLES = ("Submit", "Environments", "Clusters", "Jobs")
SUBMIT_TAB, ENVIRONMENTS_TAB, CLUSTERS_TAB, JOBS_TAB = range(4)


class ComputePanel(W.Tab):
    """Pick where to run, submit, and watch jobs, in one widget (``jupyter_compute.panel()``).

    Without a server it shows why, and has no form, pickers or monitor (they are None).
    """

    titles: tuple[str, ...]
    form: SubmitForm | None
    environments: EnvironmentPicker | None
    clusters: ClusterPicker | None
    timeline: Any
    capacity: Any

    def __init__(self, client: Client | None = None, backend: str = "local", **kwargs: Any) -> None:
        kwargs.setdefault("layout", W.Layout(min_height="520px"))  # less of a jump between tabs
        super().__init__(**kwargs)
        self.add_class("jc-panel")
        self.client: Client | None = None
        self.monitor: W.Widget | None = None
        self.timeline = self.capacity = None
        try:
            self.client = connect(client)
        except Exception as exc:  # noqa: BLE001 — shown in the widget, never as a traceback
            message = W.HTML(error_html(one_line(exc)))
            message.add_class("jc-error")
            self.form = self.environments = self.clusters = None
            self.children = [message]
            self.titles = ("Compute",)
            return
        self.form = SubmitForm(self.client, backend=backend)
        self.environments = EnvironmentPicker(self.client)
        self.clusters = ClusterPicker(self.client)
        jobs = self._jobs_tab()
        self.children = [self.form, self.environments, self._clusters_tab(), jobs]
        self.titles = TITLES
        self.selected_index = SUBMIT_TAB
        self.form.observe(self._on_submitted, "last_job")
        self.environments.observe(self._on_environment, "value")
        self.clusters.observe(self._on_cluster, "value")

    def _jobs_tab(self) -> W.Widget:
        try:
            from .monitor import JobMonitor

            self.monitor = JobMonitor(client=self.client)
        except Exception as exc:  # noqa: BLE001 — the other tabs stay usable
            box = W.VBox([style_widget(), W.HTML(error_html(f"the job monitor is not available: {one_line(exc)}"))])
            box.add_class("jc-error")
            return box
        return W.VBox([self.monitor, self._timeline_box()], layout=W.Layout(width="100%"))

    def _timeline_box(self) -> W.Widget:
        """The job timeline in a collapsible section (open), or why it is not there."""
        try:
            from .timeline import JobTimeline

            self.timeline = JobTimeline(client=self.client)
        except Exception as exc:  # noqa: BLE001 — the table stays usable
            return W.HTML(error_html(f"the job timeline is not available: {one_line(exc)}"))
        section = W.Accordion(children=[self.timeline], titles=("Timeline",), selected_index=0)
        section.add_class("jc-timeline-section")
        return section

    def _clusters_tab(self) -> W.Widget:
        """The cluster picker above the capacity chart, which follows the picker's cluster list."""
        picker = self.clusters
        assert picker is not None
        try:
            from .capacity_chart import CapacityChart

            self.capacity = CapacityChart(picker.clusters)
        except Exception as exc:  # noqa: BLE001 — the picker stays usable
            return W.VBox([picker, W.HTML(error_html(f"the capacity chart is not available: {one_line(exc)}"))])
        picker.observe(self._on_clusters, "clusters")  # every refresh of the picker's list
        return W.VBox([picker, self.capacity], layout=W.Layout(width="100%"))

    def _on_clusters(self, _change: dict[str, Any]) -> None:
        if self.capacity is not None and self.clusters is not None:
            self.capacity.set_clusters(self.clusters.clusters)

    # --- links between the tabs -----------------------------------------------------------------

    def _on_submitted(self, change: dict[str, Any]) -> None:
        job = change["new"]
        if job is not None and self.monitor is not None:
            self.selected_index = JOBS_TAB  # the monitor shows the new job live (pushed events)

    def _on_environment(self, change: dict[str, Any]) -> None:
        env = self.environments.environment if self.environments is not None else None
        if change["new"] is None or env is None:
            return
        self._fill("environment", env.backend, env.id)

    def _on_cluster(self, change: dict[str, Any]) -> None:
        cluster = self.clusters.cluster if self.clusters is not None else None
        if change["new"] is None or cluster is None:
            return
        self._fill("cluster", cluster.backend, cluster.id)

    def _fill(self, field: str, backend: str, value: str) -> None:
        """Put a choice made in another tab into the form (switching its backend if needed)."""
        form = self.form
        if form is None:
            return
        if backend and backend != form.backend:
            form.backend = backend
        if field in form.controls:
            form.set_values(**{field: value})

    def close(self) -> None:
        """Close every tab (the monitor and the timeline stop listening for job events)."""
        panels = [w for w in (self.monitor, self.timeline, self.capacity, self.clusters) if w is not None]
        for panel in panels:
            panel.close()  # each stops its own threads and closes its parts
        for child in self.children:
            close_tree(child, keep=panels)  # the boxes holding them
        super().close()

    # --- static fallbacks -----------------------------------------------------------------------

    def _repr_html_(self) -> str:
        parts = []
        for title, child in zip(self.titles, self.children, strict=False):
            parts.append(f"<h4>{html.escape(title)}</h4>{_fallback(child)}")
        return f'<div class="jc-panel">{"".join(parts)}</div>'

    def __repr__(self) -> str:
        where = self.client.url if self.client is not None else "no server"
        backend = self.form.backend if self.form is not None else "-"
        return f"<ComputePanel {where} backend={backend} tabs={', '.join(self.titles)}>"


def _fallback(widget: W.Widget) -> str:
    """A tab's static HTML: its own fallback, else its parts' (a box of panels), else its repr."""
    own = getattr(widget, "_repr_html_", None)
    if callable(own):
        return str(own())
    if isinstance(widget, W.HTML):
        return widget.value if 'class="jc-error-text"' in widget.value else ""  # an error line; not CSS
    parts = [_fallback(child) for child in getattr(widget, "children", ())]
    return "".join(parts) if any(parts) else html.escape(repr(widget))
