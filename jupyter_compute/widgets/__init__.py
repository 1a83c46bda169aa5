"""ipywidgets panels: environment and cluster pickers, the submit form, the job monitor, the job
timeline and the cluster capacity chart.

Imported lazily: ``import jupyter_compute.widgets`` is cheap, and ipywidgets is loaded only
when a panel is first used. The panels talk to the server only through :class:`~jupyter_compute.client.Client`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capacity_chart import CapacityChart
    from .detail import JobDetail
    from .form import SubmitForm, register_field_type
    from .live import LiveJobs
    from .monitor import JobMonitor
    from .panel import ComputePanel
    from .pickers import ClusterPicker, EnvironmentPicker
    from .timeline import JobTimeline

__all__ = [
    "CapacityChart",
    "ClusterPicker",
    "ComputePanel",
    "EnvironmentPicker",
    "JobDetail",
    "JobMonitor",
    "JobTimeline",
    "LiveJobs",
    "SubmitForm",
    "register_field_type",
]

_LAZY = {
    "EnvironmentPicker": ".pickers",
    "ClusterPicker": ".pickers",
    "SubmitForm": ".form",
    "register_field_type": ".form",
    "ComputePanel": ".panel",
    "JobMonitor": ".monitor",
    "JobDetail": ".detail",
    "LiveJobs": ".live",
    "JobTimeline": ".timeline",
    "CapacityChart": ".capacity_chart",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'jupyter_compute.widgets' has no attribute '{name}'")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
