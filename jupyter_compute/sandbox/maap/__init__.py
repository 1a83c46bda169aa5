"""The NASA MAAP DPS stand-in (swagger and OGC API flavours).

One folder per platform: server.py (the HTTP API, the job runner and queues; its docstring has the
table of what the stand-in refuses), wps.py (the older WPS ``dps/job`` routes, XML, that maap-py's
``DPSJob`` helpers use), swagger.py (the swagger flavour's schemas and validation errors),
algorithms/ (the built-in algorithms the jobs run). The public names come from server.py; run it with
``python -m jupyter_compute.sandbox.maap``.
"""

from .server import *  # noqa: F403 — the stand-in's public names: the sandbox class, tokens, seed ids
from .server import main as main
