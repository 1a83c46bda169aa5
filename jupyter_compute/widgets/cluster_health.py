"""What a cluster's health looks like in the panels: a colour and a word for each meaning.

The meaning itself (``Cluster.health``: healthy, busy, failing or unknown) comes from the server,
where each backend keeps its own table of its platform's statuses. Colours are JupyterLab's theme
variables (with fallbacks for pages without them), so light and dark themes both read well.
"""

from __future__ import annotations

import html

from ..models import Cluster

__all__ = ["HEALTH", "health_colour", "health_of", "status_html"]

#: meaning → (CSS colour, what it says to people)
HEALTH: dict[str, tuple[str, str]] = {
    "healthy": ("var(--jp-success-color1, #388e3c)", "takes jobs"),
    "busy": ("var(--jp-warn-color1, #f57c00)", "changing or alarmed: jobs may wait"),
    "failing": ("var(--jp-error-color1, #d32f2f)", "cannot run jobs"),
    "unknown": ("var(--jp-ui-font-color2, #757575)", "status not known to the backend"),
}


def health_of(cluster: Cluster) -> str:
    """The cluster's meaning, ``unknown`` for anything the table above does not name."""
    return cluster.health if cluster.health in HEALTH else "unknown"


def health_colour(health: str) -> str:
    """The CSS colour of a meaning."""
    return HEALTH.get(health, HEALTH["unknown"])[0]


def status_html(cluster: Cluster) -> str:
    """A dot and the native status, coloured by meaning; the meaning in words on hover."""
    health = health_of(cluster)
    colour, words = HEALTH[health]
    status = cluster.status or "no status"
    title = f"{status}: {health} ({words})"
    return (
        f'<span class="jc-cluster-status jc-health-{health}" style="color:{colour};font-weight:600" '
        f'title="{html.escape(title)}">● {html.escape(status)}</span>'
    )
