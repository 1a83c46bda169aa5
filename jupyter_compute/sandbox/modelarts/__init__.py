"""The Huawei ModelArts stand-in (training jobs, clusters, pools, inference services, app authentication,
workflows), with OBS on an S3 server.

One folder per platform: server.py (the HTTP API), handlers.py (the gateway's checks), auth.py (AK/SK
signatures and tokens), jobs.py (the training job runner), listing.py (clusters, pools, nodes and job
searches), obs.py (OBS files on S3), seed.py (the seeded pools and clusters), services.py and service_*.py
(v1 inference services, their predict URLs and app authentication), workflows.py and workflow_*.py
(workflows, executions, to-do items and schedules). The public names come from server.py; run it with
``python -m jupyter_compute.sandbox.modelarts``.
"""

from .server import *  # noqa: F403 — the stand-in's public names: the sandbox class, tokens, seed ids
from .server import main as main
