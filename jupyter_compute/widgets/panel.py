"""The compute panel: Submit, Environments, Clusters and Jobs in tabs, sharing one client.

Choosing an environment or a cluster in its tab fills the submit form (and switches its
backend when needed); submitting switches to the Jobs tab, where the job shows up live.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ._util import connect, error_html, one_line, style_widget
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

    def __init__(self, client: Client | None = None, backend: str = "local", **kwargs: Any) -> None:
        kwargs.setdefault("layout", W.Layout(min_height="520px"))  # less of a jump between tabs
        super().__init__(**kwargs)
        self.add_class("jc-panel")
        self.client: Client | None = None
        self.monitor: W.Widget | None = None
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
        self.children = [self.form, self.environments, self.clusters, jobs]
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
        return self.monitor

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
        """Close every tab (the monitor stops listening for job events)."""
        for child in self.children:
            child.close()
        super().close()

    # --- static fallbacks -----------------------------------------------------------------------

    def _repr_html_(self) -> str:
        parts = []
        for title, child in zip(self.titles, self.children, strict=False):
            fallback = getattr(child, "_repr_html_", None)
            body = fallback() if callable(fallback) else html.escape(repr(child))
            parts.append(f"<h4>{html.escape(title)}</h4>{body}")
        return f'<div class="jc-panel">{"".join(parts)}</div>'

    def __repr__(self) -> str:
        where = self.client.url if self.client is not None else "no server"
        backend = self.form.backend if self.form is not None else "-"
        return f"<ComputePanel {where} backend={backend} tabs={', '.join(self.titles)}>"
