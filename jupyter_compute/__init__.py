"""jupyter-compute: one JupyterLab console for compute jobs on many platforms.

Importing the package is cheap: the client, pandas, pyarrow and the server are loaded
only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import Client, Job
    from .errors import ComputeError, JobFailed
    from .models import JobSpec, JobState

__all__ = ["Client", "ComputeError", "Job", "JobFailed", "JobSpec", "JobState", "__version__", "panel"]

_LAZY = {
    "Client": "jupyter_compute.client",
    "Job": "jupyter_compute.client",
    "JobSpec": "jupyter_compute.models",
    "JobState": "jupyter_compute.models",
    "ComputeError": "jupyter_compute.errors",
    "JobFailed": "jupyter_compute.errors",
}


def __getattr__(name: str) -> Any:
    if name in ("widgets", "magics", "forms"):
        import importlib

        return importlib.import_module(f"jupyter_compute.{name}")
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'jupyter_compute' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def panel(**kwargs: Any) -> Any:
    """The compute panel for a notebook: pick, submit, watch, stop and load results, in tabs."""
    from .widgets import ComputePanel

    return ComputePanel(**kwargs)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import ComputeApp

    return [{"module": "jupyter_compute", "app": ComputeApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-compute"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_compute``: register the job magics (IPython is imported only now).

    They are %submit_job, %%submit_job, %jobs, %job, %job_logs, %job_results, %cancel_job and
    %compute_connect; see :mod:`jupyter_compute.magics`.
    """
    from .magics import load_ipython_extension as load

    load(ipython)
