"""The ``ray`` backend: jobs on an existing Ray cluster through its Jobs REST API (see :mod:`.backend`).

One module per concern: ``backend`` (the class and its HTTP), ``spec`` (the checks and the plan of a
submission), ``package`` (the ``working_dir`` zip), ``entry`` (the job's entrypoint on the cluster),
``status`` (the status table and its words), ``results`` (the results location) and ``cluster_facts`` (nodes
and use in our vocabulary).
"""

from .backend import RayBackend, ray_said

__all__ = ["RayBackend", "ray_said"]
