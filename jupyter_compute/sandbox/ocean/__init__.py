"""The Ocean Protocol Provider (Compute-to-Data) stand-in.

One folder per platform: server.py (the HTTP API, signatures and nonces, seed assets; its docstring
opens with the table of what the stand-in refuses), jobs.py (the pod-like job folder, the pod's
variables and the algorithm run). The public names come from server.py; run it with
``python -m jupyter_compute.sandbox.ocean``.
"""

from .server import *  # noqa: F403 — the stand-in's public names: the sandbox class, tokens, seed ids
from .server import main as main
