"""What the stand-ins themselves hold, read straight from their APIs (never through our server):
the judges of the fault tests (no orphan, no duplicate, the platform's outcome)."""

from __future__ import annotations

from typing import Any

import httpx

from jupyter_compute.backends.modelarts.training import DESCRIPTION_PREFIX
from jupyter_compute.sandbox.maap import VALID_TOKEN, MaapSandbox

MAAP_AUTH = {"proxy-ticket": VALID_TOKEN}


def maap_process_id(sandbox: MaapSandbox, algorithm: str) -> str:
    """The OGC processID of a built-in algorithm (``row-stats``, ``sleep`` …)."""
    answer = httpx.get(f"{sandbox.url}ogc/processes", headers=MAAP_AUTH).json()
    return str(next(p["processID"] for p in answer["processes"] if p["id"] == algorithm))


def maap_jobs_tagged(sandbox: MaapSandbox, job_id: str) -> list[str]:
    """The stand-in's own list of the jobs that carry our job's id as their tag."""
    answer = httpx.get(f"{sandbox.url}ogc/jobs", params={"tag": job_id, "limit": 100}, headers=MAAP_AUTH).json()
    return [job["jobID"] for job in answer.get("jobs", [])]


def maap_jobs(sandbox: MaapSandbox) -> dict[str, str]:
    """Every OGC job of the stand-in → its status."""
    answer = httpx.get(f"{sandbox.url}ogc/jobs", params={"limit": 1000}, headers=MAAP_AUTH).json()
    return {job["jobID"]: job["status"] for job in answer["jobs"]}


def modelarts_jobs(base_url: str, project: str, token: str) -> dict[str, dict[str, Any]]:
    """Every training job of the ModelArts stand-in's project → {id: {"owner": our job id or "", "phase"}},
    read page by page from its own job search with the IAM token."""
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=30, headers={"X-Auth-Token": token}) as http:
        for page in range(1000):
            answer = http.post(f"{base_url}/v2/{project}/training-job-searches",
                               json={"offset": page, "limit": 50, "sort_by": "create_time", "order": "asc"})
            answer.raise_for_status()
            items = answer.json()["items"]
            for item in items:
                description = item["metadata"].get("description") or ""
                owner = description[len(DESCRIPTION_PREFIX):] if description.startswith(DESCRIPTION_PREFIX) else ""
                found[item["metadata"]["id"]] = {"owner": owner, "phase": item["status"]["phase"]}
            if len(items) < 50:
                return found
    raise AssertionError("more than 50,000 training jobs")
